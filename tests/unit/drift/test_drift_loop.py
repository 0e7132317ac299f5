"""The drift loop on embedded defaults: train once; same data -> no retraining; drift -> one.

Three climate sensors, one reading a minute: day 1 trains, day 2 evaluates, day 3 is the
same regime, day 4 a noisier one (0.6 °C, 2 %RH of extra noise). Checks go through the CLI
(`sensorguard drift check --retrain`), which retrains through the same `run_training` as
`sensorguard train`.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from drift_helpers import FAST_SPECS, START, days, noisier
from typer.testing import CliRunner

from sensorguard.champion import champion_version
from sensorguard.cli import build_app
from sensorguard.drift.check import DRIFT_EXPERIMENT
from sensorguard.pipelines.drift import check_drift
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.pipelines.training import run_training
from sensorguard.settings import Settings, get_settings
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.specs import registered_model_name
from sensorguard.training.labels import from_simulation, write_labels_csv
from sensorguard.training.tracking import experiment_name, mlflow_client

runner = CliRunner()


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    labels = tmp_path / "labels.csv"
    monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(FAST_SPECS))
    monkeypatch.setenv("SENSORGUARD_LABELS_PATH", str(labels))
    get_settings.cache_clear()
    return get_settings()


def _training_runs(settings: Settings) -> list[Any]:
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(experiment_name("climate"))
    assert experiment is not None
    # Parent runs carry trigger_reason; nested candidate runs do not.
    return list(client.search_runs([experiment.experiment_id], "tags.trigger_reason LIKE '%'"))


def _check(end: str) -> dict[str, Any]:
    done = runner.invoke(
        build_app(),
        ["drift", "check", "--group", "climate", "--end", end, "--retrain", "--json"],
    )
    assert done.exit_code == 0, done.output
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_injected_drift_triggers_exactly_one_retraining(platform: Settings) -> None:
    started = time.perf_counter()
    sim = simulate_fleet(
        SimulationConfig(
            sensors=3, sites=1, days=4, seed=5, fault_rate=3, start=START, sensor_types=("climate",)
        )
    )
    write_labels_csv(from_simulation(sim.labels), platform.labels_path)
    seed_simulation(platform, days(sim, 0, 3))
    first = run_training(
        platform, group="climate", end=START + timedelta(days=2), trigger_reason="initial"
    )
    assert first[0]["decision"]["promoted"], first[0]["decision"]["reasons"]
    client = mlflow_client(platform)
    name = registered_model_name("climate")
    versions_before = {v.version for v in client.search_model_versions(f"name='{name}'")}
    assert len(_training_runs(platform)) == 1

    # (a) Day 3 is the regime the champion was trained on: no drift, no retraining.
    same = _check((START + timedelta(days=3)).isoformat())
    check = same["checks"][0]
    print(
        "no drift:",
        {
            k: check[k]
            for k in ("drifted_share", "score_shift", "reference_flag_rate", "current_flag_rate")
        },
    )
    assert check["status"] == "checked" and not check["drifted"], check["reasons"]
    assert check["current_rows"] >= 3 * 1200 and check["drifted_share"] < 0.3
    assert same["retrained"] == []
    assert len(_training_runs(platform)) == 1
    report = Path(check["report_path"])
    assert report.is_file() and report.parent == platform.data_dir / "reports" / "drift"
    assert report.name.startswith("climate-20260304T000000Z")

    # (b) Day 4 in a noisier regime: drift, and exactly one retraining that says why.
    seed_simulation(platform, noisier(days(sim, 3, 4)))
    drifted = _check((START + timedelta(days=4)).isoformat())
    check = drifted["checks"][0]
    print(
        "drift:",
        {
            k: check[k]
            for k in ("drifted_share", "score_shift", "reference_flag_rate", "current_flag_rate")
        },
        check["reasons"],
    )
    assert check["drifted"] and check["retrain"]
    assert any("temperature__std_5" in r for r in check["reasons"]), check["reasons"]
    assert check["trigger_reason"].startswith("drift: climate: ")
    assert len(drifted["retrained"]) == 1
    runs = _training_runs(platform)
    assert len(runs) == 2
    retrained = [r for r in runs if r.data.tags["trigger_reason"] != "initial"]
    assert [r.data.tags["trigger_reason"] for r in retrained] == [check["trigger_reason"]]
    new_versions = [
        v
        for v in client.search_model_versions(f"name='{name}'")
        if v.version not in versions_before
    ]
    assert new_versions, "the retraining registered no version"
    assert {v.tags["trigger_reason"] for v in new_versions} == {check["trigger_reason"]}
    assert {v.run_id for v in new_versions} <= {
        r.info.run_id for r in client.search_runs([retrained[0].info.experiment_id])
    }
    # The gate still decided: whichever version is @champion now passed it.
    champion = champion_version(client, "climate")
    assert champion is not None and champion.tags["validation_status"] == "passed"

    # The check's MLflow run: metrics and the HTML report as an artifact.
    experiment = client.get_experiment_by_name(DRIFT_EXPERIMENT)
    assert experiment is not None
    run = client.get_run(check["run_id"])
    assert run.data.metrics["drifted_share"] == pytest.approx(check["drifted_share"])
    assert run.data.tags["drifted"] == "true"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert artifacts == {f"report/{Path(check['report_path']).name}"}

    # A second check within the cooldown finds the drift again but does not retrain again.
    again = _check((START + timedelta(days=4)).isoformat())
    assert again["checks"][0]["drifted"] and not again["checks"][0]["retrain"]
    assert again["retrained"] == [] and len(_training_runs(platform)) == 2

    # Without the snapshot file (another machine), the reference is rebuilt from the store.
    shutil.rmtree(platform.data_dir / "snapshots")
    [rebuilt] = check_drift(platform, group="climate", end=START + timedelta(days=3))
    assert rebuilt.status == "checked" and rebuilt.reference_rows > 1000
    assert str(rebuilt.extra["reference_source"]).startswith("store ")
    print(f"loop took {time.perf_counter() - started:.1f} s")
