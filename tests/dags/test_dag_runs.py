"""Real dag.test() runs of both DAGs on the embedded backends, checked by what they produced.

A failed task does not make dag.test() raise, so each test asserts the DagRun's state, every
task instance's state, and the artefacts: a @champion in MLflow, rows in Feast's online store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dag_helpers import DAGS, FAST_SPECS, run_tool

from sensorguard.champion import champion_version
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import Settings
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.training.labels import from_simulation, write_labels_csv
from sensorguard.training.tracking import mlflow_client
from sensorguard.wiring import open_configured_metadata

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, airflow_env: dict[str, str]
) -> dict[str, Any]:
    """Two climate and two acoustic sensors with three days of readings and a labels file."""
    data_dir = tmp_path_factory.mktemp("platform") / "sg"
    labels = data_dir.parent / "labels.csv"
    settings = Settings(data_dir=data_dir, model_specs_dir=FAST_SPECS, labels_path=labels)
    sim = simulate_fleet(
        SimulationConfig(
            sensors=4,
            sites=1,
            days=3,
            seed=8,
            fault_rate=3,
            start=START,
            sensor_types=("climate", "acoustic"),
        )
    )
    seed_simulation(settings, sim)
    write_labels_csv(from_simulation(sim.labels), labels)
    env = {
        **airflow_env,
        "SENSORGUARD_DATA_DIR": str(data_dir),
        "SENSORGUARD_MODEL_SPECS_DIR": str(FAST_SPECS),
        "SENSORGUARD_LABELS_PATH": str(labels),
    }
    return {"settings": settings, "env": env, "end": sim.end.isoformat()}


def test_train_detectors_promotes_a_champion_per_group(platform: dict[str, Any]) -> None:
    conf = json.dumps({"end": platform["end"], "trigger_reason": "dag-test"})
    result = run_tool(platform["env"], "run", str(DAGS / "train_detectors.py"), conf)
    tasks = result["tasks"]
    assert result["state"] == "success", result["log"]
    assert all(state == "success" for state in tasks.values()), tasks
    # One mapped instance per group of the specs, for every per-group step.
    for step in ("train", "evaluate", "register", "promote"):
        assert {f"{step}[0]", f"{step}[1]"} <= set(tasks), tasks
    client = mlflow_client(platform["settings"])
    for group in ("acoustic", "climate"):
        champion = champion_version(client, group)
        assert champion is not None, f"no @champion for {group}"
        assert champion.tags["trigger_reason"] == "dag-test"
        assert champion.tags["source"] == "feast"
        assert champion.tags["validation_status"] == "passed"
    with open_configured_metadata(platform["settings"]) as metadata:
        steps = {(e.actor, e.action, e.subject) for e in metadata.audit_log(100)}
    for group in ("acoustic", "climate"):
        for action in ("model.register", "model.promote"):
            assert ("airflow:train_detectors", action, f"sensorguard-{group}") in steps, steps


def test_materialize_features_fills_the_online_store(platform: dict[str, Any]) -> None:
    from sensorguard.featurestore import online_features

    conf = json.dumps({"end": platform["end"], "days": 3})
    result = run_tool(platform["env"], "run", str(DAGS / "materialize_features.py"), conf)
    assert result["state"] == "success", result["log"]
    assert set(result["tasks"].values()) == {"success"}
    frame = online_features(platform["settings"], ["th-001", "snd-002"])
    online = frame.set_index("sensor_id").to_dict(orient="index")
    zscore = float(online["th-001"]["temperature__zscore"])
    assert zscore == zscore  # materialized, not missing
    assert float(online["snd-002"]["sound_level__std_5"]) >= 0
    assert Path(platform["settings"].data_dir / "feast" / "feature_store.yaml").exists()
