"""`sensorguard models`: registered group models, their champions, promotion and rollback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sensorguard.cli._common import JsonFlag, cli_actor, cli_errors, print_json, print_table
from sensorguard.errors import NotFound

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sensorguard.champion import RegistryChange

app = typer.Typer(
    help=(
        "Registered models per sensor group (MLflow registry): list versions, compare them, "
        "promote one to @champion by hand, roll back to @previous, check the specs.\n\n"
        "Examples:\n\n"
        "  sensorguard models list\n\n"
        "  sensorguard models compare climate\n\n"
        "  sensorguard models promote climate 7\n\n"
        "  sensorguard models challenger climate 8\n\n"
        "  sensorguard models compare climate --shadow --hours 24\n\n"
        "  sensorguard models promote climate --challenger\n\n"
        "  sensorguard models rollback climate\n\n"
        "  sensorguard models specs"
    ),
    no_args_is_help=True,
)

_LIST_COLUMNS = (
    "group",
    "version",
    "aliases",
    "detector",
    "validation_status",
    "f1",
    "pr_auc",
    "event_recall",
    "false_alarms_per_sensor_day",
    "trigger_reason",
)


def _client() -> MlflowClient:
    from sensorguard.settings import get_settings
    from sensorguard.training.tracking import mlflow_client

    return mlflow_client(get_settings())


def _audit(change: RegistryChange) -> None:
    """A registry change by the CLI's user, into the audit log."""
    from sensorguard.champion import audit_registry_changes
    from sensorguard.settings import get_settings

    audit_registry_changes(get_settings(), cli_actor(), [change])


def _short(value: str) -> str:
    try:
        return f"{float(value):.3f}"
    except ValueError:
        return value


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    print_table(
        title,
        [c.replace("false_alarms_per_sensor_day", "FA/sensor-day") for c in _LIST_COLUMNS],
        [[_short(str(r[c])) for c in _LIST_COLUMNS] for r in rows],
    )


@app.command("list")
def list_versions(
    group: Annotated[str | None, typer.Option(help="Only this sensor group.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every version of every group model, newest first, with aliases and key metrics."""
    from sensorguard.champion import registered_groups, version_rows

    with cli_errors():
        client = _client()
        groups = [group] if group else registered_groups(client)
        rows = [row for g in groups for row in version_rows(client, g)]
    if as_json:
        print_json(rows)
    else:
        _table("Model versions", rows)


@app.command()
def compare(
    group: Annotated[str, typer.Argument(help="Sensor group.")],
    versions: Annotated[
        list[str] | None,
        typer.Argument(help="Versions to compare (default: @champion, @previous and the newest)."),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow",
            help="Compare @champion and @challenger on the same live readings instead "
            "(the stream scorer's scores and shadow_scores tables).",
        ),
    ] = False,
    hours: Annotated[float, typer.Option(min=0.01, help="With --shadow: the window.")] = 24.0,
    end: Annotated[
        str | None, typer.Option(help="With --shadow: end of the window (ISO time; default now).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Versions side by side; metrics are each version's own evaluation at registration.

    With --shadow: agreement, flags and would-be alerts of the champion and the challenger
    on the same live readings of the last --hours.
    """
    from sensorguard.champion import CHAMPION, PREVIOUS, version_rows

    if shadow:
        _compare_shadow(group, hours, end, as_json)
        return
    with cli_errors():
        rows = version_rows(_client(), group, versions or None)
    if not versions:
        # Rows come newest first and name their aliases.
        rows = [
            row
            for i, row in enumerate(rows)
            if i == 0 or {CHAMPION, PREVIOUS} & set(row["aliases"].split(","))
        ]
    if as_json:
        print_json(rows)
    else:
        _table(f"sensorguard-{group}", rows)


def _window(hours: float, end: str | None) -> tuple[datetime, datetime]:
    from sensorguard.pipelines.training import parse_time
    from sensorguard.schemas import utc_now

    stop = parse_time(end) or utc_now()
    return stop - timedelta(hours=hours), stop


def _compare_shadow(group: str, hours: float, end: str | None, as_json: bool) -> None:
    from sensorguard.serving.shadow import group_shadow, shadow_problems
    from sensorguard.settings import get_settings
    from sensorguard.specs import load_configured_specs

    with cli_errors():
        settings = get_settings()
        start, stop = _window(hours, end)
        found = group_shadow(settings, group, start, stop)
        problems = shadow_problems(found, load_configured_specs(settings)[group].gate)
    if as_json:
        print_json({**found.as_dict(), "promotion_blockers": problems})
        return

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    print_table(
        f"sensorguard-{group}: champion vs challenger on {found.readings:,} readings of "
        f"{found.sensors} sensors ({found.hours:.1f} h)",
        ["", "versions", "flagged", "would-be alerts", "alerts/sensor-day"],
        [
            [side, ",".join(s.versions), s.flagged, s.alerts, rate(s.alerts_per_sensor_day)]
            for side, s in (("champion", found.champion), ("challenger", found.challenger))
        ],
    )
    agreement = "-" if found.agreement is None else f"{found.agreement:.1%}"
    typer.echo(
        f"flag agreement {agreement}; score rank correlation {rate(found.score_correlation)}"
    )
    typer.echo("promotable: yes" if not problems else "promotable: no; " + "; ".join(problems))


@app.command()
def challenger(
    group: Annotated[str, typer.Argument(help="Sensor group.")],
    version: Annotated[str, typer.Argument(help="Version to shadow-score beside @champion.")],
) -> None:
    """Make a version @challenger: the stream scorer scores it beside the champion (never
    alerting) so `models compare GROUP --shadow` can show both on the same live readings."""
    from sensorguard.champion import RegistryChange, set_challenger

    with cli_errors():
        former = set_challenger(_client(), group, version, reason="manual")
        change = RegistryChange(
            "model.challenger",
            group,
            version,
            outcome="challenger",
            former=former,
            reason="manual",
        )
        _audit(change)
    typer.echo(f"sensorguard-{group}: v{version} is @challenger")


@app.command()
def promote(
    group: Annotated[str, typer.Argument(help="Sensor group.")],
    version: Annotated[
        str | None, typer.Argument(help="Version to make @champion (not with --challenger).")
    ] = None,
    from_challenger: Annotated[
        bool,
        typer.Option(
            "--challenger",
            help="Promote @challenger if its shadow evidence passes the gate (gate.shadow_hours "
            "of live scoring, would-be alerts within the false-alarm cap).",
        ),
    ] = False,
    hours: Annotated[
        float | None,
        typer.Option(help="With --challenger: evidence window [default: 2 x gate.shadow_hours]."),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="With --challenger: end of the window (default now).")
    ] = None,
) -> None:
    """Make a version @champion by hand (skips the gate); the former champion becomes @previous.

    With --challenger, the gate's shadow evidence decides instead of a person.
    """
    from sensorguard.champion import RegistryChange, force_promote

    if from_challenger == (version is not None):
        raise typer.BadParameter("give a VERSION or --challenger, not both or neither")
    if from_challenger:
        _promote_challenger(group, hours, end)
        return
    assert version is not None
    with cli_errors():
        former = force_promote(_client(), group, version)
        change = RegistryChange(
            "model.force_promote",
            group,
            version,
            outcome="promoted",
            former=former,
            reason="manual promotion",
        )
        _audit(change)
    kept = f"; v{former} is @previous" if former else ""
    typer.echo(f"sensorguard-{group}: v{version} is @champion{kept}")


def _promote_challenger(group: str, hours: float | None, end: str | None) -> None:
    from sensorguard.champion import (
        CHALLENGER,
        RegistryChange,
        promote,
        version_by_alias,
    )
    from sensorguard.serving.shadow import group_shadow, shadow_problems
    from sensorguard.settings import get_settings
    from sensorguard.specs import load_configured_specs, registered_model_name

    with cli_errors():
        settings = get_settings()
        client = _client()
        gate = load_configured_specs(settings)[group].gate
        candidate = version_by_alias(client, group, CHALLENGER)
        if candidate is None:
            raise NotFound("challenger of group", group)
        version = str(candidate.version)
        # Twice the wanted span by default: the evidence must cover gate.shadow_hours of it.
        start, stop = _window(hours or 2 * max(gate.shadow_hours, 1.0), end)
        problems = shadow_problems(group_shadow(settings, group, start, stop), gate)
        if problems:
            _audit(
                RegistryChange(
                    "model.promote_challenger",
                    group,
                    version,
                    "refused",
                    reason="; ".join(problems),
                )
            )
            typer.echo(f"sensorguard-{group}: v{version} stays @challenger: " + "; ".join(problems))
            raise typer.Exit(1)
        reason = f"shadow evidence passed the gate ({stop - start} of live scoring)"
        former = promote(client, group, version, reason=reason)
        client.delete_registered_model_alias(registered_model_name(group), CHALLENGER)
        _audit(
            RegistryChange(
                "model.promote_challenger",
                group,
                version,
                "promoted",
                former=former,
                reason=reason,
            )
        )
    typer.echo(f"sensorguard-{group}: v{version} is @champion ({reason})")


@app.command()
def rollback(group: Annotated[str, typer.Argument(help="Sensor group.")]) -> None:
    """Put @previous back on @champion."""
    from sensorguard.champion import RegistryChange
    from sensorguard.champion import rollback as do_rollback

    with cli_errors():
        demoted, restored = do_rollback(_client(), group)
        change = RegistryChange(
            "model.rollback",
            group,
            restored,
            outcome="rolled back",
            former=demoted,
            reason="manual rollback",
        )
        _audit(change)
    typer.echo(f"sensorguard-{group}: v{restored} is @champion again (v{demoted} demoted)")


@app.command()
def specs(as_json: JsonFlag = False) -> None:
    """Validate the model specs (models/*.yaml over defaults.yaml) and show what they resolve to."""
    from sensorguard.settings import get_settings
    from sensorguard.specs import load_configured_specs

    with cli_errors():
        loaded = load_configured_specs(get_settings())
    if as_json:
        print_json({g: s.model_dump(mode="json") for g, s in loaded.items()})
        return
    print_table(
        "Model specs",
        ["group", "sensor types", "tags", "channels", "detectors", "threshold", "window", "hash"],
        [
            [
                s.group,
                ",".join(s.members.sensor_types),
                ",".join(f"{k}={v}" for k, v in s.members.tags.items()),
                ",".join(s.channels),
                ", ".join(d.label for d in s.detectors),
                f"open {s.scoring.open_level:g} / hold {s.scoring.hold_level:g}",
                f"{s.training.days:g}d (eval {s.training.eval_days:g}d)",
                s.spec_hash(),
            ]
            for s in loaded.values()
        ],
    )
