"""Helpers of the model tests: simulated fleets stored in a fresh embedded platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def trained_climate(
    data_dir: Path, *, sensors: int = 4, live_hours: float = 8
) -> tuple[Settings, Simulation, datetime]:
    """The climate fleet the serving, fuzz and fault tests score: stored, and a champion
    trained on all but its last `live_hours` (the readings scored "live"); returns where the
    training ended."""
    from sensorguard.pipelines.training import run_training
    from sensorguard.training.labels import from_simulation

    settings, sim = stored_fleet(
        data_dir,
        FAST_SPECS,
        sensors=sensors,
        sites=1,
        days=3,
        seed=21,
        fault_rate=3,
        sensor_types=("climate",),
    )
    until = sim.end - timedelta(hours=live_hours)
    results = run_training(settings, group="climate", end=until, labels=from_simulation(sim.labels))
    assert results[0]["decision"]["promoted"], results[0]["decision"]
    return settings, sim, until
