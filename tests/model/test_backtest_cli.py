"""`sensorguard backtest` end to end on a small NAB file, plus its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from sensorguard.backtest import DEFAULT_DETECTOR
from sensorguard.cli.backtest import backtest

NAB = Path(__file__).resolve().parents[1] / "data" / "nab"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(backtest)
    return app


@pytest.fixture
def labelled_csv(tmp_path: Path) -> Path:
    """NAB's speed_7578 (1127 rows) with a 0/1 label column from its windows, ';'-separated."""
    frame = pd.read_csv(NAB / "speed_7578.csv")
    ts = pd.to_datetime(frame["timestamp"])
    frame["label"] = 0
    for start, end in json.loads((NAB / "speed_7578_windows.json").read_text()):
        frame.loc[(ts >= start) & (ts <= end), "label"] = 1
    frame["sensor"] = "s-7578"
    path = tmp_path / "speed.csv"
    frame.to_csv(path, index=False, sep=";")
    return path


def test_backtest_writes_predictions_metrics_and_plot(
    app: typer.Typer, labelled_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            str(labelled_csv),
            "--time-col",
            "timestamp",
            "--label-col",
            "label",
            "--sep",
            ";",
            "--drop-col",
            "sensor",
            "--train-fraction",
            "0.15",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == [
        "timestamp",
        "score",
        "flag",
        "alert",
        "kind",
        "lead",
        "label",
        "train",
    ]
    assert len(predictions) == 1127
    # Surprise: -log10 of a probability, so never negative; scores do not pile up on one value.
    assert (predictions["score"] >= 0).all()
    top = predictions["score"].nlargest(20)
    assert top.nunique() >= 15, top  # equal inputs may tie; a saturated score would not vary
    flagged = predictions[predictions["flag"] == 1]
    assert flagged["kind"].notna().all() and (predictions["alert"] <= predictions["flag"]).all()
    assert predictions["train"].sum() == int(1127 * 0.15)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["detector"]["name"] == DEFAULT_DETECTOR
    assert metrics["events"]["events"] == 4
    assert set(metrics["nab"]) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    # NAB's null detector scores 0 and the perfect one 100; ours must land in between here.
    assert 0 < metrics["nab"]["standard"]["normalized"] <= 100
    assert (out / "backtest.png").stat().st_size > 10_000


def test_backtest_defaults_to_the_default_detector(
    app: typer.Typer, labelled_csv: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            str(labelled_csv),
            "--label-col",
            "label",
            "--sep",
            ";",
            "--drop-col",
            "sensor",
            "--train-rows",
            "300",
            "-o",
            str(tmp_path / "auto"),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert metrics["detector"]["name"] == DEFAULT_DETECTOR
    assert metrics["detector"]["calibration_rows"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-col", "when"], "--time-col must be a column of speed.csv"),
        (["--label-col", "truth"], "--label-col must be a column of speed.csv"),
        ([], "column 'sensor' must be numeric (drop it with --drop-col), got 's-7578'"),
        (["--drop-col", "sensor", "--train-rows", "10"], "training rows must be at least 50"),
        (
            ["--drop-col", "sensor", "--train-rows", "100", "--train-fraction", "0.2"],
            "exactly one of",
        ),
        (
            ["--drop-col", "sensor", "--detector", "forest"],
            "no detector named 'forest'; available:",
        ),
    ],
)
def test_backtest_errors_name_the_problem(
    app: typer.Typer, labelled_csv: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    base = [str(labelled_csv), "--sep", ";", "-o", str(tmp_path / "x")]
    if "--train-rows" not in args and "--train-fraction" not in args:
        base += ["--train-fraction", "0.2"]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2
    assert message in result.output
