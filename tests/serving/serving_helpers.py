"""Helpers of the serving tests: the trained platform they score against, the batch verdicts."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sensorguard.champion import CHALLENGER
from sensorguard.schemas import Reading
from sensorguard.serving.scorer import build_live_scorer
from sensorguard.serving.stream import ScorerStats, run_stream_scorer
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation
from sensorguard.stream import SENSOR_DATA
from sensorguard.stream.codec import encode_reading

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


def embedded(served: Served, tmp_name: str) -> Settings:
    """The served platform with a stream of its own (the store and registry are shared)."""
    return served.settings.model_copy(
        update={"stream_url": f"sqlite:///{served.settings.data_dir / tmp_name}"}
    )


def publish_live(settings: Settings, served: Served) -> int:
    from sensorguard.wiring import open_configured_stream

    stream = open_configured_stream(settings)
    stream.ensure_topics()
    live = served.live_readings()
    stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in live])
    stream.close()
    return len(live)


def score_stream(
    settings: Settings, *, stop_after: int | None = None, shadow: bool = False
) -> ScorerStats:
    from sensorguard.wiring import open_configured_store, open_configured_stream

    stream, store = open_configured_stream(settings), open_configured_store(settings)
    scorer = build_live_scorer(settings, store, stateful=True, surface="stream")
    scorer.models.refresh()
    challenger = None
    if shadow:
        challenger = build_live_scorer(
            settings, store, alias=CHALLENGER, stateful=True, surface="stream"
        )
        challenger.models.refresh()
    stop = threading.Event()

    def maybe_stop(stats: ScorerStats, _: object) -> None:
        if stop_after is not None and stats.polled >= stop_after:
            stop.set()

    try:
        return run_stream_scorer(
            stream,
            store,
            scorer,
            shadow=challenger,
            batch_size=500,
            until_idle_s=1.0,
            stop=stop,
            on_batch=maybe_stop,
        )
    finally:
        store.close()
        stream.close()
