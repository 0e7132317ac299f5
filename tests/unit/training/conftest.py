"""Fixtures of the training tests: a small simulated fleet in the store, trained once per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from training_helpers import FAST_SPECS, START

from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import Settings, get_settings
from sensorguard.simulate import Simulation, SimulationConfig, simulate_fleet
from sensorguard.training.labels import LabelWindow, from_simulation


@pytest.fixture(scope="session")
def fleet() -> Simulation:
    """3 climate + 3 acoustic sensors, 3 days at one reading a minute, ~2 faults per sensor-day."""
    return simulate_fleet(
        SimulationConfig(
            sensors=6,
            sites=2,
            days=3,
            seed=11,
            fault_rate=2,
            start=START,
            sensor_types=("climate", "acoustic"),
        )
    )


@pytest.fixture(scope="session")
def fleet_labels(fleet: Simulation) -> list[LabelWindow]:
    return from_simulation(fleet.labels)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, fleet: Simulation, fleet_labels: list[LabelWindow]
) -> dict[str, Any]:
    """One training run of the climate group on the stored fleet, with simulator labels."""
    from sensorguard.pipelines.training import run_training

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("trained") / "sg", model_specs_dir=FAST_SPECS
    )
    seed_simulation(settings, fleet)
    messages: list[str] = []
    outcomes = run_training(
        settings, group="climate", end=fleet.end, labels=fleet_labels, progress=messages.append
    )
    return {"settings": settings, "outcome": outcomes[0], "messages": messages}


@pytest.fixture
def use_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point get_settings() (what the CLI reads) at a given Settings' data dir and specs."""

    def point(settings: Settings) -> Settings:
        monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(settings.data_dir))
        if settings.model_specs_dir is not None:
            monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(settings.model_specs_dir))
        get_settings.cache_clear()
        return get_settings()

    yield point
    get_settings.cache_clear()
