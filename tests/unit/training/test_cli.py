"""`sensorguard train` and `sensorguard models` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from training_helpers import FAST_SPECS
from typer.testing import CliRunner

from sensorguard.cli._common import cli_actor
from sensorguard.cli.models import app as models_app
from sensorguard.cli.train import train
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation
from sensorguard.training.labels import LabelWindow, write_labels_csv
from sensorguard.wiring import open_configured_metadata

runner = CliRunner()


def train_app() -> typer.Typer:
    # The root CLI mounts `train` as a top-level command the same way.
    app = typer.Typer()
    app.command()(train)
    app.command("noop")(lambda: None)  # two commands keep `train` a named subcommand
    return app


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory, fleet: Simulation, fleet_labels: list[LabelWindow]
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("cli")
    settings = Settings(data_dir=root / "sg", model_specs_dir=FAST_SPECS)
    seed_simulation(settings, fleet)
    labels = write_labels_csv(fleet_labels, root / "labels.csv")
    return {"settings": settings, "labels": labels, "end": fleet.end.isoformat()}


def test_train_then_list_compare_promote_rollback(
    stored: dict[str, Any], use_settings: Any
) -> None:
    use_settings(stored["settings"])
    trained = runner.invoke(
        train_app(),
        [
            "train",
            "--group",
            "climate",
            "--labels",
            str(stored["labels"]),
            "--end",
            stored["end"],
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    body = json.loads(trained.stdout)
    (champion,) = body["champions"]
    assert champion["group"] == "climate" and champion["promoted"] is True, body["decisions"][0][
        "reasons"
    ]
    assert champion["events"] > 0 and champion["pr_auc"] is not None

    listed = json.loads(runner.invoke(models_app, ["list", "--json"]).stdout)
    assert [r["version"] for r in listed] == ["2", "1"]
    assert [r["aliases"] for r in listed if r["version"] == champion["champion"]] == ["champion"]

    other = next(r["version"] for r in listed if r["version"] != champion["champion"])
    promoted = runner.invoke(models_app, ["promote", "climate", other])
    assert promoted.exit_code == 0, promoted.output
    assert f"v{other} is @champion; v{champion['champion']} is @previous" in promoted.stdout

    compared = json.loads(runner.invoke(models_app, ["compare", "climate", "--json"]).stdout)
    assert {r["version"]: r["aliases"] for r in compared} == {
        other: "champion",
        champion["champion"]: "previous",
    }

    rolled = runner.invoke(models_app, ["rollback", "climate"])
    assert rolled.exit_code == 0 and f"v{champion['champion']} is @champion again" in rolled.stdout
    again = runner.invoke(models_app, ["rollback", "climate"])
    assert again.exit_code == 1
    assert "no previous champion to roll back to" in again.output

    # Who moved which alias, and why: training's steps, then the two done by hand.
    with open_configured_metadata(stored["settings"]) as metadata:
        logged = [e for e in reversed(metadata.audit_log(50)) if e.action.startswith("model.")]
    first = champion["champion"]
    brief = [(e.actor, e.action, e.subject, e.detail["version"]) for e in logged]
    assert brief == [
        ("training", "model.register", "sensorguard-climate", "1"),
        ("training", "model.register", "sensorguard-climate", "2"),
        ("training", "model.promote", "sensorguard-climate", first),
        (cli_actor(), "model.force_promote", "sensorguard-climate", other),
        (cli_actor(), "model.rollback", "sensorguard-climate", first),
    ]
    register, promote, forced, rollback = logged[0], logged[2], logged[3], logged[4]
    assert register.detail["outcome"] == "registered" and register.detail["reason"] == "manual"
    assert (promote.detail["outcome"], promote.detail["former"]) == ("promoted", None)
    assert promote.detail["reason"] == champion_reasons(body)
    assert forced.detail == {
        "group": "climate",
        "version": other,
        "former": first,
        "reason": "manual promotion",
        "outcome": "promoted",
    }
    assert (rollback.detail["former"], rollback.detail["outcome"]) == (other, "rolled back")


def champion_reasons(trained: dict[str, Any]) -> str:
    return "; ".join(trained["decisions"][0]["reasons"])


def test_promote_an_unknown_version_fails_cleanly(
    stored: dict[str, Any], use_settings: Any
) -> None:
    use_settings(stored["settings"])
    result = runner.invoke(models_app, ["promote", "climate", "99"])
    assert result.exit_code == 1
    assert "version must be a version of sensorguard-climate, got '99'" in result.output


def test_train_table_output_and_a_missing_labels_file(
    stored: dict[str, Any], use_settings: Any, tmp_path: Path
) -> None:
    use_settings(stored["settings"])
    missing = runner.invoke(train_app(), ["train", "--labels", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    bad_source = runner.invoke(train_app(), ["train", "--source", "s3"])
    assert bad_source.exit_code == 2 and "must be 'store' or 'feast'" in bad_source.output


def test_specs_command_shows_the_resolved_specs(
    use_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per spec, unwrapped
    use_settings(Settings(data_dir=tmp_path / "sg", model_specs_dir=FAST_SPECS))
    shown = json.loads(runner.invoke(models_app, ["specs", "--json"]).stdout)
    assert set(shown) == {"climate", "acoustic"}
    assert shown["climate"]["detectors"][1] == {
        "name": "iforest",
        "params": {"n_estimators": 25},
        "search": {},
    }
    table = runner.invoke(models_app, ["specs"])
    assert table.exit_code == 0 and "iforest(n_estimators=25)" in table.stdout
