"""`sensorguard train`: train, evaluate, register and gate the per-group detectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_errors, print_json


def train(
    group: Annotated[
        str | None, typer.Option(help="Train one sensor group (a file stem in models/).")
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(min=0.1, help="History to read, in days (default: the spec's training.days)."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV of fault windows: sensor_id, channel, kind, start, end "
            "(default: SENSORGUARD_LABELS_PATH). Without labels nothing is promoted.",
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="Where features come from: 'store' (computed now by the shared transforms) or "
            "'feast' (point-in-time retrieval; run `sensorguard features export` + `apply` first)."
        ),
    ] = "store",
    end: Annotated[
        str | None, typer.Option(help="End of the window, ISO time with zone (default: now).")
    ] = None,
    trigger_reason: Annotated[
        str, typer.Option(help="Recorded on every version, e.g. 'drift:climate'.")
    ] = "manual",
    as_json: JsonFlag = False,
) -> None:
    """Fit every candidate of each model spec on the training window, evaluate on the held-out
    day against labelled faults, log to MLflow, register versions and promote the gate's winner.

    Examples:

      sensorguard train --labels labels.csv

      sensorguard train --group climate --days 7 --json
    """
    from rich.console import Console

    from sensorguard.pipelines.training import parse_time, run_training
    from sensorguard.settings import get_settings
    from sensorguard.training.report import (
        champion_rows,
        print_candidates,
        print_champions,
        progress_reporter,
    )

    if source not in ("store", "feast"):
        raise typer.BadParameter(
            f"must be 'store' or 'feast', got {source!r}", param_hint="--source"
        )
    console = Console(stderr=as_json)
    with cli_errors(), progress_reporter(console) as progress:
        outcomes = run_training(
            get_settings(),
            group=group,
            end=parse_time(end),
            days=days,
            source="feast" if source == "feast" else "store",
            labels_path=labels,
            trigger_reason=trigger_reason,
            progress=progress,
        )
    rows = champion_rows(outcomes)
    if as_json:
        print_json(
            {
                "champions": rows,
                "decisions": [o["decision"] for o in outcomes],
                "candidates": [o["registered"]["candidates"] for o in outcomes],
            }
        )
        return
    print_candidates(outcomes, console)
    print_champions(rows, console)
