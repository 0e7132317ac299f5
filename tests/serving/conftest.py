"""A trained platform for the serving tests: a climate fleet in the embedded store, a champion."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from serving_helpers import LIVE_HOURS, Served

from model.model_helpers import FAST_SPECS, stored_fleet


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
