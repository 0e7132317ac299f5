"""Helpers of the model tests: simulated fleets stored in a fresh embedded platform."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation, SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SPECS = ROOT / "models"
FAST_SPECS = ROOT / "tests" / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)


def stored_fleet(data_dir: Path, specs: Path, **config: object) -> tuple[Settings, Simulation]:
    """Simulate a fleet from START, store it under `data_dir`; settings use the `specs` folder."""
    settings = Settings(data_dir=data_dir, model_specs_dir=specs)
    sim = simulate_fleet(SimulationConfig.model_validate({"start": START, **config}))
    seed_simulation(settings, sim)
    return settings, sim
