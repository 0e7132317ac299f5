"""The training part of `make demo`: train on the stored fleet, promote, show the champions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from sensorguard.settings import Settings
    from sensorguard.simulate import FaultLabel


def demo_training(
    settings: Settings,
    console: Console,
    *,
    labels: Sequence[FaultLabel] | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Train every group on what the demo stored, register, gate, print the champions' table.

    `labels` are the simulator's (the demo has them); without them the configured labels
    file is read. `end` closes the training window (default: now); the demo passes the end of
    its simulated history so the held-out day is a whole day. Returns one row per group: champion version, detector, F1, PR-AUC, event
    recall overall and per fault kind, false alarms per sensor-day.
    """
    from sensorguard.pipelines.training import run_training
    from sensorguard.training.labels import from_simulation
    from sensorguard.training.report import champion_rows, print_champions, progress_reporter

    windows = None if labels is None else from_simulation(labels)
    started = time.perf_counter()
    with progress_reporter(console) as progress:
        outcomes = run_training(
            settings, end=end, labels=windows, trigger_reason="demo", progress=progress
        )
    rows = champion_rows(outcomes)
    console.print(
        f"[bold]trained[/bold] {sum(len(o['registered']['candidates']) for o in outcomes)} "
        f"candidates for {len(outcomes)} groups in {time.perf_counter() - started:.0f} s; "
        f"MLflow: {settings.mlflow_tracking_uri}"
    )
    print_champions(rows, console)
    return rows
