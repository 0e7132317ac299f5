"""Helpers of the serving tests: the trained platform they score against, the batch verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sensorguard.schemas import Reading
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation

LIVE_HOURS = 8  # the last hours of the fleet are scored "live"; training ends before them


@dataclass(frozen=True)
class Served:
    settings: Settings
    sim: Simulation
    trained_until: datetime

    def live_readings(self, sensor_id: str | None = None) -> list[Reading]:
        """Stored readings after the training window (what the tests score), in time order."""
        from sensorguard.wiring import open_configured_store

        store = open_configured_store(self.settings)
        try:
            ids = [sensor_id] if sensor_id else [s.sensor_id for s in self.sim.sensors]
            return sorted(
                store.read_readings(ids, self.trained_until, self.sim.end + timedelta(days=1)),
                key=lambda r: (r.ts, r.sensor_id),
            )
        finally:
            store.close()


def backtest_scores(served: Served, sensor_id: str) -> dict[object, tuple[float, bool, str]]:
    """The champion over the sensor's whole stored history: the batch (backtest) path."""
    import pandas as pd

    from sensorguard.champion import load_champion_bundle
    from sensorguard.wiring import open_configured_store

    bundle = load_champion_bundle("climate", served.settings)
    store = open_configured_store(served.settings)
    rows = store.read_readings([sensor_id], served.sim.start, served.sim.end + timedelta(days=1))
    store.close()
    frame = pd.DataFrame(
        [{"sensor_id": r.sensor_id, "ts": r.ts, **r.channels} for r in rows]
    ).reindex(columns=["sensor_id", "ts", *bundle.feature_spec.channels])
    verdicts = bundle.verdicts(frame)
    return {
        r.ts: (float(verdicts.score[i]), bool(verdicts.flag[i]), str(verdicts.kind[i]))
        for i, r in enumerate(rows)
    }
