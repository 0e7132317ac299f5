"""A training run on a small simulated fleet: metrics, MLflow runs and artifacts, registered versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from training_helpers import FAST_SPECS

from sensorguard.champion import CHAMPION, champion_version, load_champion, version_rows
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation
from sensorguard.training.labels import LabelWindow
from sensorguard.training.tracking import mlflow_client

HEADLINE = ("precision", "recall", "f1", "pr_auc", "event_recall", "false_alarms_per_sensor_day")


def test_every_candidate_is_evaluated_on_the_held_out_day(trained: dict[str, Any]) -> None:
    evaluated = trained["outcome"]["evaluated"]
    assert [c["detector"] for c in evaluated["candidates"]] == [
        "tail_max",
        "iforest(n_estimators=25)",
    ]
    window = evaluated["window"]
    assert pd.Timestamp(window["end"]) - pd.Timestamp(window["split"]) == pd.Timedelta(days=1)
    for candidate in evaluated["candidates"]:
        metrics = candidate["metrics"]
        for key in HEADLINE:
            assert isinstance(metrics[key], float), key
        assert metrics["events"] > 0
        assert 0 < metrics["rows"] < 3 * 1440 * 3
        assert set(metrics["per_kind_recall"]) <= {
            "spike",
            "level_shift",
            "drift",
            "stuck",
            "noise_burst",
            "dropout",
        }
    # Some candidate finds something: the fleet has faults on the held-out day.
    assert max(c["metrics"]["event_recall"] for c in evaluated["candidates"]) > 0


def test_runs_carry_params_metrics_spec_plots_and_snapshot(trained: dict[str, Any]) -> None:
    settings: Settings = trained["settings"]
    client = mlflow_client(settings)
    evaluated = trained["outcome"]["evaluated"]
    parent = client.get_run(evaluated["parent_run_id"])
    assert parent.data.params["group"] == "climate"
    snapshot = evaluated["snapshot"]
    assert Path(snapshot["path"]).exists()
    assert (
        len(pd.read_parquet(snapshot["path"]))
        == snapshot["rows"]
        == int(parent.data.params["train_rows"])
    )
    for candidate in evaluated["candidates"]:
        run = client.get_run(candidate["run_id"])
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert float(run.data.metrics["f1"]) == pytest.approx(candidate["metrics"]["f1"])
        assert "threshold" in run.data.metrics
        assert run.data.params["snapshot_hash"] == snapshot["sha256_16"]
        names = {a.path for a in client.list_artifacts(candidate["run_id"])}
        assert {"spec.json", "features.json", "evaluation.json", "plots"} <= names
        plots = {a.path for a in client.list_artifacts(candidate["run_id"], "plots")}
        assert plots == {"plots/score_over_time.png", "plots/pr_curve.png"}
        spec = json.loads(
            Path(client.download_artifacts(candidate["run_id"], "spec.json")).read_text()
        )
        assert spec["group"] == "climate"


def test_versions_are_registered_with_tags_and_one_is_champion(trained: dict[str, Any]) -> None:
    settings: Settings = trained["settings"]
    client = mlflow_client(settings)
    decision = trained["outcome"]["decision"]
    assert decision["promoted"] is True
    rows = version_rows(client, "climate")
    assert sorted(r["version"] for r in rows) == ["1", "2"]
    champion = champion_version(client, "climate")
    assert champion is not None and str(champion.version) == decision["champion_version"]
    assert CHAMPION in champion.aliases
    for row in rows:
        mv = client.get_model_version("sensorguard-climate", row["version"])
        tags = mv.tags
        assert tags["validation_status"] in {"passed", "failed"}
        assert tags["trigger_reason"] == "manual"
        assert tags["training_window"].count("/") == 1
        assert "temperature__zscore" in tags["feature_list"].split(",")
        assert len(tags["spec_hash"]) == 12
        assert tags["spec_version"] == "1"
        for key in ("f1", "pr_auc", "event_recall"):
            float(tags[f"metric.{key}"])
    assert (
        client.get_model_version("sensorguard-climate", decision["champion_version"]).tags[
            "validation_status"
        ]
        == "passed"
    )


def test_the_resolved_spec_is_recorded_in_the_metadata_store(trained: dict[str, Any]) -> None:
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(trained["settings"])
    record = metadata.get_model_spec("climate")
    metadata.close()
    assert (record.sensor_group, record.version) == ("climate", 1)
    assert record.spec["detectors"][0]["name"] == "tail_max"


def test_champion_loaded_by_alias_scores_readings(
    trained: dict[str, Any], fleet: Simulation
) -> None:
    model = load_champion("climate", trained["settings"])
    readings = fleet.readings[fleet.readings["sensor_id"] == "th-001"][
        ["sensor_id", "ts", "temperature", "humidity"]
    ]
    out = cast(pd.DataFrame, model.predict(readings))
    assert list(out.columns) == ["score", "flag", "threshold", "kind", "contributions"]
    assert len(out) == len(readings)
    assert out["flag"].dtype == bool
    assert out["score"].notna().all()
    # Episodes open at the threshold and may hold below it while the fault lasts.
    assert out["flag"].sum() >= (out["score"] >= out["threshold"]).sum() > 0


def test_progress_is_reported(trained: dict[str, Any]) -> None:
    messages = trained["messages"]
    assert any("fitting tail_max" in m for m in messages)
    assert any("registering 2 candidates" in m for m in messages)


def test_without_labels_nothing_is_promoted(tmp_path: Path, fleet: Simulation) -> None:
    from sensorguard.pipelines.seed import seed_simulation
    from sensorguard.pipelines.training import run_training

    settings = Settings(data_dir=tmp_path / "sg", model_specs_dir=FAST_SPECS)
    seed_simulation(settings, fleet)
    outcome = run_training(settings, group="acoustic", end=fleet.end)[0]
    assert outcome["decision"]["promoted"] is False
    assert "no labelled evaluation data" in outcome["decision"]["reasons"][0]
    client = mlflow_client(settings)
    assert champion_version(client, "acoustic") is None
    assert {r["validation_status"] for r in version_rows(client, "acoustic")} == {"unvalidated"}


def test_groups_without_registered_sensors_are_skipped(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    from sensorguard.pipelines.training import training_groups

    specs = tmp_path / "specs"
    shutil.copytree(FAST_SPECS, specs)
    (specs / "environment.yaml").write_text(
        "members: {sensor_types: [environment]}\nchannels: [temperature]\n"
    )
    settings = trained["settings"].model_copy(update={"model_specs_dir": specs})
    assert training_groups(settings) == ["acoustic", "climate"]
    # Asked for by name, it is trained (and fails there if it really has no data).
    assert training_groups(settings, "environment") == ["environment"]


def test_a_failing_candidate_is_recorded_and_the_others_go_on(
    trained: dict[str, Any], tmp_path: Path, fleet: Simulation, fleet_labels: list[LabelWindow]
) -> None:
    import shutil

    from sensorguard.pipelines.training import run_training

    specs = tmp_path / "specs"
    shutil.copytree(FAST_SPECS, specs)
    with (specs / "acoustic.yaml").open("a") as handle:
        # More components than the 11 acoustic features: PCA refuses to fit.
        handle.write("detectors:\n  - name: hbos\n  - name: pca\n    params: {n_components: 500}\n")
    settings = trained["settings"].model_copy(update={"model_specs_dir": specs})
    outcome = run_training(settings, group="acoustic", end=fleet.end, labels=fleet_labels)[0]
    evaluated = outcome["evaluated"]
    assert [c["detector"] for c in evaluated["candidates"]] == ["hbos"]
    (failure,) = evaluated["failed"]
    assert failure["detector"] == "pca(n_components=500)" and "n_components" in failure["error"]
    client = mlflow_client(settings)
    runs = client.search_runs(
        [evaluated["experiment_id"]], "tags.detector = 'pca(n_components=500)'"
    )
    assert [r.info.status for r in runs] == ["FAILED"]
