"""A trained platform for the serving tests: a climate fleet in the embedded store, a champion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from model.model_helpers import FAST_SPECS, stored_fleet
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


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    from sensorguard.pipelines.training import run_training
    from sensorguard.training.labels import from_simulation

    root: Path = tmp_path_factory.mktemp("served")
    settings, sim = stored_fleet(
        root / "sg",
        FAST_SPECS,
        sensors=4,
        sites=1,
        days=3,
        seed=21,
        fault_rate=3,
        sensor_types=("climate",),
    )
    until = sim.end - timedelta(hours=LIVE_HOURS)
    results = run_training(settings, group="climate", end=until, labels=from_simulation(sim.labels))
    assert results[0]["decision"]["promoted"], results[0]["decision"]
    return Served(settings, sim, until)
