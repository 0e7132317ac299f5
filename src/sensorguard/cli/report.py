"""`sensorguard report`: the demo's HTML report, rebuilt from a data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sensorguard.cli._common import cli_errors


def report(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            dir_okay=False,
            help="Where to write the HTML file (default: <data_dir>/reports/demo.html, beside "
            "the drift reports it links to).",
        ),
    ] = None,
    days: Annotated[
        float, typer.Option(min=0.1, help="Days of readings, scores and alerts shown (to now).")
    ] = 14.0,
    end: Annotated[
        str | None,
        typer.Option(help="End of the report's window, ISO time with zone (default: now)."),
    ] = None,
) -> None:
    """Build one self-contained HTML report of the data folder (SENSORGUARD_DATA_DIR).

    Sections: a summary (the demo's steps and times, when the demo ran there), the fleet
    overview, one sensor with its scores, labelled faults and alerts, the registered model
    versions compared, and the drift checks with links to their Evidently reports.

    Examples:

      sensorguard report

      sensorguard report -o /tmp/fleet.html --days 3
    """
    from rich.console import Console

    from sensorguard.pipelines.training import parse_time
    from sensorguard.report import build_report
    from sensorguard.settings import get_settings

    with cli_errors():
        path = build_report(get_settings(), output, days=days, end=parse_time(end))
    Console().print(f"report: {path}")
