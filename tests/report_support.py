"""A small data folder the report tests build the report from: three climate sensors, a
champion trained on day 1 (evaluated on day 2), a noisier day 3, its drift check, and scores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensorguard.pipelines.drift import check_drift
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.pipelines.training import run_training
from sensorguard.schemas import Score
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation, SimulationConfig, noisier, simulate_fleet
from sensorguard.training.labels import from_simulation, write_labels_csv
from sensorguard.wiring import open_configured_store

FAST_SPECS = Path(__file__).parent / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=3)


def _days(sim: Simulation, first: int, last: int) -> Simulation:
    ts = sim.readings["ts"]
    keep = (ts >= START + timedelta(days=first)) & (ts < START + timedelta(days=last))
    return replace(sim, readings=sim.readings[keep])


def small_platform(data_dir: Path) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        model_specs_dir=FAST_SPECS,
        labels_path=data_dir / "labels.csv",
        retention_days=7300,
    )
    sim = simulate_fleet(
        SimulationConfig(
            sensors=3, sites=1, days=3, seed=5, fault_rate=3, start=START, sensor_types=("climate",)
        )
    )
    assert settings.labels_path is not None
    write_labels_csv(from_simulation(sim.labels), settings.labels_path)
    seed_simulation(settings, _days(sim, 0, 2))
    [trained] = run_training(settings, group="climate", end=START + timedelta(days=2))
    assert trained["decision"]["promoted"], trained["decision"]["reasons"]
    noisy = noisier(_days(sim, 2, 3), {"temperature": 0.6, "humidity": 2.0}, seed=1)
    seed_simulation(settings, noisy)
    # Scores as the stream scorer stores them (the scoring path has its own tests).
    version = trained["decision"]["champion_version"]
    rows = sim.readings[sim.readings["sensor_id"] == sim.sensors[0].sensor_id]
    scores = [
        Score(
            sensor_id=sim.sensors[0].sensor_id,
            ts=ts.to_pydatetime(),
            score=5.0 if i % 500 == 0 else 0.5,
            flag=i % 500 == 0,
            threshold=3.0,
            model="sensorguard-climate",
            model_version=str(version),
        )
        for i, ts in enumerate(rows["ts"])
    ]
    store = open_configured_store(settings)
    try:
        store.write_scores(scores)
    finally:
        store.close()
    [check] = check_drift(settings, group="climate", end=END)
    assert check.drifted and check.report_path, check.reasons
    return settings
