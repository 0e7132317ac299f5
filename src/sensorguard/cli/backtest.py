"""`sensorguard backtest`: fit a detector on a CSV's training prefix and score the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sensorguard.errors import SensorGuardError


def _windows(text: str) -> list[int]:
    try:
        windows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated integers like 5,20, got {text!r}"
        ) from None
    if not windows or any(w < 2 for w in windows):
        raise typer.BadParameter(f"every window must be an integer >= 2, got {text!r}")
    if len(set(windows)) != len(windows):
        raise typer.BadParameter(f"windows must be distinct, got {text!r}")
    return windows


def backtest(
    file: Annotated[Path, typer.Argument(help="CSV with a time column and numeric channels.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for predictions.csv, metrics.json, backtest.png."
        ),
    ],
    time_col: Annotated[str, typer.Option("--time-col", help="Timestamp column.")] = "timestamp",
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col", help="Label column: 0/1, or fault kinds ('' / normal = no fault)."
        ),
    ] = None,
    sep: Annotated[str, typer.Option("--sep", help="Field separator.")] = ",",
    drop_col: Annotated[
        list[str] | None, typer.Option("--drop-col", help="Column to ignore (repeatable).")
    ] = None,
    train_rows: Annotated[
        int | None, typer.Option("--train-rows", help="Training prefix in rows.")
    ] = None,
    train_fraction: Annotated[
        float | None,
        typer.Option("--train-fraction", help="Training prefix as a fraction of the rows."),
    ] = None,
    detector: Annotated[
        str,
        typer.Option("--detector", help="Registered detector name (sensorguard models detectors)."),
    ] = "tail_max",
    windows: Annotated[
        str, typer.Option("--windows", help="Rolling windows in readings, e.g. 5,20.")
    ] = "5,20",
    refractory_rows: Annotated[
        int | None,
        typer.Option(
            "--refractory-rows",
            help="After an alert, only a higher peak on the same channel raises another within "
            "this many rows (default 0: off).",
        ),
    ] = None,
    recent_rows: Annotated[
        int | None,
        typer.Option(
            "--recent-rows",
            help="Also judge each reading against the series' last N readings: the likelihood "
            "of the latest 20 readings' surprise, or a new extreme of that range (default 2000; "
            "0 = off, the frozen model alone).",
        ),
    ] = None,
    open_level: Annotated[
        float | None,
        typer.Option(
            "--open-level",
            help="Score (surprise, -log10 of the chance) that opens a fault episode; default 3.",
        ),
    ] = None,
) -> None:
    """Backtest a detector on FILE without look-ahead and write predictions, metrics and a plot.

    The detector is fitted and calibrated on the training prefix, then frozen; every later row
    is scored from itself and the rows before it, one at a time, as a live sensor would be, and
    judged against the series' own recent readings (--recent-rows).
    """
    from sensorguard.backtest import run_backtest

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    try:
        result = run_backtest(
            file,
            time_col=time_col,
            output=output,
            label_col=label_col,
            sep=sep,
            drop_cols=drop_col or (),
            train_rows=train_rows,
            train_fraction=train_fraction,
            detector=detector,
            windows=_windows(windows),
            open_level=open_level,
            refractory_rows=refractory_rows,
            recent_rows=recent_rows,
            progress=progress,
        )
    except SensorGuardError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    metrics = result.metrics
    summary = f"detector {result.detector}: {metrics['alerts']} alerts, {metrics['flagged_rows']} flagged rows"
    if metrics.get("nab"):
        nab = metrics["nab"]["standard"]["normalized"]
        events = metrics["events"]
        recall = events["event_recall"]
        summary += (
            f"; event recall {recall:.2f}"
            if recall is not None
            else "; no labelled events after training"
        )
        if nab is not None:
            summary += f"; NAB standard {nab:.1f}"
    typer.echo(summary)
