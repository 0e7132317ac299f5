"""`sensorguard feedback`: operators' false-alarm verdicts as a retraining trigger."""

from __future__ import annotations

from typing import Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_errors, print_json, print_table

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

    from sensorguard.pipelines.drift import check_feedback, retrain_drifted
    from sensorguard.pipelines.training import parse_time
    from sensorguard.settings import get_settings
    from sensorguard.training.report import champion_rows, print_champions, progress_reporter

    console = Console(stderr=as_json)
    settings = get_settings()
    with cli_errors():
        stop = parse_time(end)
        checks = check_feedback(settings, group=group)
        outcomes = []
        if retrain and any(c.retrain for c in checks):
            with progress_reporter(console) as progress:
                outcomes = retrain_drifted(settings, checks, end=stop, progress=progress)
    if as_json:
        print_json(
            {
                "checks": [c.to_dict() for c in checks],
                "retrained": [o["decision"] for o in outcomes],
            }
        )
        return
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
    if outcomes:
        print_champions(champion_rows(outcomes), console)
    elif any(c.retrain for c in checks):
        console.print("threshold reached: run again with --retrain, or `sensorguard train`")
