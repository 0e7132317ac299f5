"""A real dag.test() run of check_drift: no drift -> nothing triggered; five false-alarm
verdicts -> one train run for feedback; drift -> one train run for drift.

The champion is trained in this process first (as `sensorguard train` would); the DAG then
runs in a child process against the same embedded data folder. dag.test() runs only its own
DAG: the triggered train_detectors run is queued in the metadata DB (a scheduler would run
it), so the test reads it there, conf and all.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dag_helpers import DAGS, FAST_SPECS, run_tool

from sensorguard.alerting.store import AlertStore
from sensorguard.champion import champion_version
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.pipelines.training import run_training
from sensorguard.settings import Settings, sqlite_path
from sensorguard.simulate import Simulation, SimulationConfig, noisier, simulate_fleet
from sensorguard.training.labels import from_simulation, write_labels_csv
from sensorguard.training.tracking import mlflow_client

START = datetime(2026, 3, 1, tzinfo=UTC)
DAG_FILE = str(DAGS / "check_drift.py")


def _days(sim: Simulation, first: int, last: int) -> Simulation:
    ts = sim.readings["ts"]
    keep = (ts >= START + timedelta(days=first)) & (ts < START + timedelta(days=last))
    return replace(sim, readings=sim.readings[keep])


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, airflow_env: dict[str, str]
) -> dict[str, Any]:
    """Three climate sensors: trained on day 1 (evaluated on day 2), days 3-4 stored later."""
    data_dir = tmp_path_factory.mktemp("drift") / "sg"
    labels = data_dir.parent / "labels.csv"
    settings = Settings(data_dir=data_dir, model_specs_dir=FAST_SPECS, labels_path=labels)
    sim = simulate_fleet(
        SimulationConfig(
            sensors=3, sites=1, days=4, seed=5, fault_rate=3, start=START, sensor_types=("climate",)
        )
    )
    write_labels_csv(from_simulation(sim.labels), labels)
    seed_simulation(settings, _days(sim, 0, 3))
    outcome = run_training(settings, group="climate", end=START + timedelta(days=2))
    assert outcome[0]["decision"]["promoted"], outcome[0]["decision"]["reasons"]
    env = {
        **airflow_env,
        "SENSORGUARD_DATA_DIR": str(data_dir),
        "SENSORGUARD_MODEL_SPECS_DIR": str(FAST_SPECS),
        "SENSORGUARD_LABELS_PATH": str(labels),
    }
    return {"settings": settings, "env": env, "sim": sim}


def _triggered(result: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """The train_detectors runs the DAG queued whose trigger reason starts with `reason`."""
    return [
        r
        for r in result["other_runs"]
        if r["dag_id"] == "train_detectors"
        and r["run_id"].startswith("drift__")
        and r["conf"]["trigger_reason"].startswith(reason)
    ]


def _false_alarms(settings: Settings, sensor_id: str, n: int) -> None:
    """N alerts on the sensor, each resolved and then judged a false alarm by an operator."""
    store = AlertStore(sqlite_path(settings.metadata_url))
    try:
        for _ in range(n):
            alert, _ = store.trigger("sensor-fault", sensor_id, at=datetime.now(UTC))
            store.resolve(alert.alert_id, "engine")
            store.judge(alert.alert_id, "ann", "false_alarm")
    finally:
        store.close()


def test_no_drift_triggers_nothing_and_drift_triggers_one_training(
    platform: dict[str, Any],
) -> None:
    conf = json.dumps({"group": "climate", "end": (START + timedelta(days=3)).isoformat()})
    quiet = run_tool(platform["env"], "run", DAG_FILE, conf)
    assert quiet["state"] == "success", quiet["log"]
    assert quiet["tasks"]["check"] == "success", quiet["tasks"]
    assert quiet["tasks"]["feedback"] == "success", quiet["tasks"]
    assert quiet["tasks"]["retraining_confs"] == "success", quiet["tasks"]
    # Mapped over no conf: skipped, no instance ran.
    assert quiet["tasks"]["trigger_training"] == "skipped", quiet["tasks"]
    assert _triggered(quiet, "") == []

    # Operators judged five of the champion's alerts false alarms (the fast spec's threshold
    # is the default 5): the same quiet data now retrains, for that reason.
    _false_alarms(platform["settings"], platform["sim"].sensors[0].sensor_id, 5)
    judged = run_tool(platform["env"], "run", DAG_FILE, conf)
    assert judged["state"] == "success", judged["log"]
    [by_feedback] = _triggered(judged, "feedback: ")
    assert by_feedback["conf"]["trigger_reason"] == "feedback: 5 false alarms on climate"
    assert _triggered(judged, "drift: ") == []

    seed_simulation(
        platform["settings"],
        noisier(_days(platform["sim"], 3, 4), {"temperature": 0.6, "humidity": 2.0}, seed=1),
    )
    end = (START + timedelta(days=4)).isoformat()
    drifted = run_tool(platform["env"], "run", DAG_FILE, json.dumps({"end": end}))
    assert drifted["state"] == "success", drifted["log"]
    assert drifted["tasks"]["trigger_training[0]"] == "success", drifted["tasks"]
    assert "trigger_training[1]" not in drifted["tasks"]  # drift and feedback: one training
    [queued] = _triggered(drifted, "drift: ")
    assert queued["state"] == "queued"
    assert queued["conf"]["group"] == "climate" and queued["conf"]["end"] == end
    assert queued["conf"]["trigger_reason"].startswith("drift: climate: ")
    # The checks logged their reports; the champion is untouched until training runs.
    reports = sorted(
        p.name for p in (platform["settings"].data_dir / "reports" / "drift").iterdir()
    )
    assert reports == ["climate-20260304T000000Z.html", "climate-20260305T000000Z.html"]
    champion = champion_version(mlflow_client(platform["settings"]), "climate")
    assert champion is not None and champion.tags["trigger_reason"] == "manual"
