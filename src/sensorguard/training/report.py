"""Tables of a training run for people: candidates per group and each champion's evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

FAULT_KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst", "dropout")


def _num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def champion_rows(outcomes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group: the champion after the run and its metrics on this run's evaluation rows.

    When the gate kept the former champion, its re-scored metrics are shown.
    """
    rows = []
    for outcome in outcomes:
        decision = outcome["decision"]
        evaluated = outcome["evaluated"]
        version = decision.get("champion_version")
        metrics: dict[str, Any] | None = None
        detector = ""
        for candidate in outcome["registered"]["candidates"]:
            if candidate["version"] == version:
                metrics, detector = candidate.get("metrics"), candidate["detector"]
        champion = evaluated.get("champion")
        if metrics is None and champion and champion["version"] == version:
            metrics, detector = champion["metrics"], f"{champion.get('detector', '')} (kept)"
        metrics = metrics or {}
        recall = metrics.get("per_kind_recall") or {}
        rows.append(
            {
                "group": decision["group"],
                "champion": version,
                "detector": detector,
                "promoted": decision["promoted"],
                "f1": metrics.get("f1"),
                "pr_auc": metrics.get("pr_auc"),
                "event_recall": metrics.get("event_recall"),
                "recall_by_kind": {k: recall[k] for k in FAULT_KINDS if k in recall},
                "false_alarms_per_sensor_day": metrics.get("false_alarms_per_sensor_day"),
                "events": metrics.get("events"),
                "reason": "; ".join(decision.get("reasons", [])),
            }
        )
    return rows


def print_champions(rows: Sequence[dict[str, Any]], console: Console) -> None:
    """Two narrow tables (summary, then recall per fault kind) that fit an 80-column terminal."""
    from rich.table import Table

    table = Table(title="Champions on the held-out evaluation window")
    for column in ("group", "ver", "detector", "F1", "PR-AUC", "events", "recall", "FA/day"):
        table.add_column(column, justify="left" if column in ("group", "detector") else "right")
    for row in rows:
        table.add_row(
            row["group"],
            str(row["champion"] or "-"),
            row["detector"],
            _num(row["f1"]),
            _num(row["pr_auc"]),
            str(row["events"] if row["events"] is not None else "-"),
            _num(row["event_recall"]),
            _num(row["false_alarms_per_sensor_day"], 1),
        )
    console.print(table)
    kinds = Table(title="Event recall by fault kind (- : no such fault in the window)")
    kinds.add_column("fault kind")
    for row in rows:
        kinds.add_column(row["group"], justify="right")
    for kind in FAULT_KINDS:
        kinds.add_row(kind.replace("_", " "), *(_num(r["recall_by_kind"].get(kind)) for r in rows))
    console.print(kinds)
    console.print("[dim]FA/day: false alarms per sensor-day (a run of flags counts once)[/dim]")
    for row in rows:
        console.print(f"[dim]{row['group']}: {row['reason']}[/dim]")


def print_candidates(outcomes: Sequence[dict[str, Any]], console: Console) -> None:
    from rich.table import Table

    table = Table(title="Candidates")
    for column in ("group", "version", "detector", "F1", "PR-AUC", "event recall", "FA/sensor-day"):
        table.add_column(column, justify="left" if column in ("group", "detector") else "right")
    for outcome in outcomes:
        group = outcome["decision"]["group"]
        champion = outcome["decision"].get("champion_version")
        for candidate in outcome["registered"]["candidates"]:
            m = candidate.get("metrics") or {}
            mark = " @champion" if candidate["version"] == champion else ""
            table.add_row(
                group,
                candidate["version"] + mark,
                candidate["detector"],
                _num(m.get("f1")),
                _num(m.get("pr_auc")),
                _num(m.get("event_recall")),
                _num(m.get("false_alarms_per_sensor_day"), 1),
            )
    console.print(table)


@contextmanager
def progress_reporter(console: Console) -> Iterator[Callable[[str], None]]:
    """A callback that shows the current step on a spinner and logs the finished ones."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        last: list[str] = []

        def report(message: str) -> None:
            if last:
                progress.console.print(f"[dim]  done: {last[0]}[/dim]")
            last[:] = [message]
            progress.update(task, description=message)

        yield report
        if last:
            progress.console.print(f"[dim]  done: {last[0]}[/dim]")
