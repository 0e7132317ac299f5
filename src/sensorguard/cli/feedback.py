"""`sensorguard feedback`: operators' false-alarm verdicts as a retraining trigger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_errors, print_table

if TYPE_CHECKING:
    from rich.console import Console

    from sensorguard.drift.feedback import FeedbackCheck

app = typer.Typer(
    help=(
        "Feedback: per sensor group, the false-alarm verdicts operators gave on its alerts "
        "(`sensorguard alerts ack|resolve ID --verdict false_alarm`) since its champion was "
        "registered, against the `feedback.false_alarms_to_retrain` of its model spec.\n\n"
        "Examples:\n\n"
        "  sensorguard feedback check\n\n"
        "  sensorguard feedback check --group climate --retrain --json"
    ),
    no_args_is_help=True,
)


@app.command()
def check(
    group: Annotated[
        str | None, typer.Option(help="Check one sensor group (a file stem in models/).")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="End of a retraining's window, ISO time with zone (default: now)."),
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain/--no-retrain",
            help="Retrain each group at its threshold now (as `sensorguard train --group G` "
            "with trigger_reason 'feedback: N false alarms on G'; the quality gate still "
            "decides promotion). Skipped within the spec's feedback.cooldown_hours of a "
            "previous feedback retraining.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Count each group's false-alarm verdicts since its champion was registered.

    Groups without a @champion are skipped. Exit code 0 either way (read the table or --json).
    """
    from rich.console import Console

    from sensorguard.cli.drift import finish_checks
    from sensorguard.pipelines.drift import check_feedback
    from sensorguard.pipelines.training import parse_time
    from sensorguard.settings import get_settings

    console = Console(stderr=as_json)
    settings = get_settings()
    with cli_errors():
        finish_checks(
            settings,
            check_feedback(settings, group=group),
            end=parse_time(end),
            retrain=retrain,
            as_json=as_json,
            console=console,
            show=print_checks,
            hint="threshold reached: run again with --retrain, or `sensorguard train`",
        )


def print_checks(checks: Sequence[FeedbackCheck], console: Console) -> None:
    del console  # print_table writes to stdout, as the table of every other command
    print_table(
        "Feedback checks",
        ("group", "champion", "false alarms", "threshold", "retrain", "why"),
        [
            (
                c.group,
                f"v{c.champion_version}" if c.champion_version else "-",
                c.false_alarms,
                "-" if c.threshold is None else c.threshold,
                "yes" if c.retrain else "no",
                "; ".join(c.reasons),
            )
            for c in checks
        ],
    )
