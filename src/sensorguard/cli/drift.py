"""`sensorguard drift`: compare recent data with each champion's training rows (Evidently)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sensorguard.cli._common import JsonFlag, cli_errors, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from sensorguard.drift.records import DriftCheck
    from sensorguard.pipelines.drift import RetrainCheck
    from sensorguard.settings import Settings

app = typer.Typer(
    help=(
        "Drift checks: per sensor group, the champion's training rows (reference) against a "
        "recent window (current) — feature drift, score-distribution shift, flag-rate change — "
        "judged by the `drift:` policy of the group's model spec. Each check writes an "
        "Evidently HTML report under <data_dir>/reports/drift/ and logs it with its metrics "
        "to the MLflow experiment `sensorguard.drift`.\n\n"
        "Examples:\n\n"
        "  sensorguard drift check\n\n"
        "  sensorguard drift check --group climate --hours 6\n\n"
        "  sensorguard drift check --retrain --json"
    ),
    no_args_is_help=True,
)


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def print_checks(checks: Sequence[DriftCheck], console: Console) -> None:
    from rich.table import Table

    table = Table(title="Drift checks")
    for column in (
        "group",
        "champion",
        "rows (ref / now)",
        "drifted features",
        "score shift",
        "flag rate (ref -> now)",
        "drifted",
        "why",
        "report",
    ):
        table.add_column(column, overflow="fold")
    for c in checks:
        share = (
            "-" if c.drifted_share is None else f"{len(c.drifted_features)} ({c.drifted_share:.0%})"
        )
        verdict = "[red]yes[/red]" if c.drifted else ("skipped" if c.status == "skipped" else "no")
        if c.drifted and not c.retrain:
            verdict += " (cooldown)"
        table.add_row(
            c.group,
            f"v{c.champion_version}" if c.champion_version else "-",
            f"{c.reference_rows:,} / {c.current_rows:,}",
            share,
            _num(c.score_shift),
            f"{_num(c.reference_flag_rate, '.1%')} -> {_num(c.current_flag_rate, '.1%')}",
            verdict,
            "; ".join(c.reasons) or "within the policy",
            c.report_path or "",
        )
    console.print(table)


@app.command()
def check(
    group: Annotated[
        str | None, typer.Option(help="Check one sensor group (a file stem in models/).")
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Length of the recent window (default: the spec's drift.window_hours)."
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End of the window, ISO time with zone (default: now).")
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain/--no-retrain",
            help="Retrain each drifted group now (as `sensorguard train --group G` with "
            "trigger_reason 'drift: ...'; the quality gate still decides promotion). Skipped "
            "within the spec's drift.cooldown_hours of a previous drift retraining.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check each group's recent readings against its champion's training rows.

    Groups without a @champion, or with too few readings in the window, are skipped.

    Exit code 0 whether or not drift is found (read the table or --json).

    Examples:

      sensorguard drift check --group climate

      sensorguard drift check --retrain
    """
    from rich.console import Console

    from sensorguard.pipelines.drift import check_drift
    from sensorguard.pipelines.training import parse_time
    from sensorguard.settings import get_settings
    from sensorguard.training.report import progress_reporter

    console = Console(stderr=as_json)
    settings = get_settings()
    with cli_errors():
        stop = parse_time(end)
        with progress_reporter(console) as progress:
            checks = check_drift(settings, group=group, hours=hours, end=stop, progress=progress)
        finish_checks(
            settings,
            checks,
            end=stop,
            retrain=retrain,
            as_json=as_json,
            console=console,
            show=print_checks,
            hint="drift found: run again with --retrain, or `sensorguard train --group G`",
        )


def finish_checks(
    settings: Settings,
    checks: Sequence[RetrainCheck],
    *,
    end: datetime | None,
    retrain: bool,
    as_json: bool,
    console: Console,
    show: Callable[[Sequence[Any], Console], None],
    hint: str,
) -> None:
    """What `drift check` and `feedback check` do after checking: retrain the groups the
    checks name (with --retrain), then print the checks and the new champions, or --json."""
    from sensorguard.pipelines.drift import retrain_drifted
    from sensorguard.training.report import champion_rows, print_champions, progress_reporter

    outcomes: list[dict[str, Any]] = []
    if retrain and any(c.retrain for c in checks):
        with progress_reporter(console) as progress:
            outcomes = retrain_drifted(settings, checks, end=end, progress=progress)
    if as_json:
        print_json(
            {
                "checks": [c.to_dict() for c in checks],
                "retrained": [o["decision"] for o in outcomes],
            }
        )
        return
    show(checks, console)
    if outcomes:
        print_champions(champion_rows(outcomes), console)
    elif any(c.retrain for c in checks):
        console.print(hint)
