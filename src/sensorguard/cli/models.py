"""`sensorguard models`: registered group models, their champions, promotion and rollback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sensorguard.cli._common import JsonFlag, cli_actor, cli_errors, print_json, print_table

if TYPE_CHECKING:
    from mlflow import MlflowClient

app = typer.Typer(
    help=(
        "Registered models per sensor group (MLflow registry): list versions, compare them, "
        "promote one to @champion by hand, roll back to @previous, check the specs.\n\n"
        "Examples:\n\n"
        "  sensorguard models list\n\n"
        "  sensorguard models compare climate\n\n"
        "  sensorguard models promote climate 7\n\n"
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
    as_json: JsonFlag = False,
) -> None:
    """Versions side by side; metrics are each version's own evaluation at registration."""
    from sensorguard.champion import CHAMPION, PREVIOUS, version_rows

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


@app.command()
def promote(
    group: Annotated[str, typer.Argument(help="Sensor group.")],
    version: Annotated[str, typer.Argument(help="Version to make @champion.")],
) -> None:
    """Make a version @champion by hand (skips the gate); the former champion becomes @previous."""
    from sensorguard.champion import RegistryChange, audit_registry_changes, force_promote
    from sensorguard.settings import get_settings

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
        audit_registry_changes(get_settings(), cli_actor(), [change])
    kept = f"; v{former} is @previous" if former else ""
    typer.echo(f"sensorguard-{group}: v{version} is @champion{kept}")


@app.command()
def rollback(group: Annotated[str, typer.Argument(help="Sensor group.")]) -> None:
    """Put @previous back on @champion."""
    from sensorguard.champion import RegistryChange, audit_registry_changes
    from sensorguard.champion import rollback as do_rollback
    from sensorguard.settings import get_settings

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
        audit_registry_changes(get_settings(), cli_actor(), [change])
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
