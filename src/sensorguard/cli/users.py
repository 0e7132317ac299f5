"""`sensorguard users`: users, roles, API keys and the audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_actor, cli_errors, print_json, print_table
from sensorguard.cli.sensors import open_cli_store
from sensorguard.metadata.roles import ROLES

if TYPE_CHECKING:
    from sensorguard.metadata import ApiKeyInfo

app = typer.Typer(
    help=(
        "Manage users, their roles and API keys; read the audit log.\n\n"
        f"Roles: {', '.join(ROLES)}.\n\n"
        "Examples:\n\n"
        "  sensorguard users add gateway-7 --role device\n\n"
        "  sensorguard users key-create gateway-7 --name 'hall 3 gateway' --site hall-3\n\n"
        "  sensorguard users audit --limit 20"
    ),
    no_args_is_help=True,
)


def _brief(detail: dict[str, object], width: int = 60) -> str:
    """A detail short enough for a table cell; --json has the whole of it."""
    text = json.dumps(detail, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _binding(key: ApiKeyInfo, role: str | None) -> str:
    """What a key may send readings of, as `users keys` shows it."""
    if key.bound:
        return key.describe_binding()
    return "nothing (unbound device key)" if role == "device" else "any sensor"


@app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Login or device name, e.g. alice or gw-7.")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}.")],
) -> None:
    """Create a user with a role.

    Example: sensorguard users add alice --role data_scientist
    """
    with cli_errors(), open_cli_store() as store:
        user = store.add_user(username, role, actor=cli_actor())
    typer.echo(f"added user {user.username} ({user.role})")


@app.command("list")
def list_users(as_json: JsonFlag = False) -> None:
    """List users and their roles."""
    with cli_errors(), open_cli_store() as store:
        users = store.list_users()
    if as_json:
        print_json([u.model_dump(mode="json") for u in users])
        return
    print_table(
        f"{len(users)} users",
        ("username", "role", "created_at"),
        [(u.username, u.role, u.created_at) for u in users],
    )


@app.command("key-create")
def create_key(
    username: Annotated[str, typer.Argument(help="The user the key acts as.")],
    name: Annotated[
        str, typer.Option("--name", "-n", help="A label to recognise the key by later.")
    ] = "default",
    sensor: Annotated[
        list[str] | None,
        typer.Option(
            "--sensor", "-s", help="Bind the key to this sensor id (repeatable, registered ids)."
        ),
    ] = None,
    site: Annotated[
        str | None, typer.Option(help="Bind the key to every sensor of this site.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key and print it once; only its hash is kept.

    The key goes to stdout and the warning to stderr, so that
    KEY=$(sensorguard users key-create gw-7 --site hall-3) captures just the key.

    A bound key may send readings only of its sensors and of its site's sensors; a device key
    needs a binding to send anything. Clients send the key in the X-API-Key header or as
    Authorization: Bearer <key>.
    """
    sensors = sensor or []
    with cli_errors(), open_cli_store() as store:
        key_id, plaintext = store.create_api_key(
            username, name, sensors=sensors, site=site, actor=cli_actor()
        )
    typer.echo(
        f"API key {key_id} for {username}: store it now, it is shown only this once "
        "and cannot be recovered.",
        err=True,
    )
    if as_json:
        print_json(
            {
                "key_id": key_id,
                "username": username,
                "name": name,
                "sensors": sorted(set(sensors)),
                "site": site,
                "key": plaintext,
            }
        )
    else:
        typer.echo(plaintext)


@app.command("key-revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="Key id, as `users keys` lists it.")],
) -> None:
    """Revoke an API key; requests using it are refused from now on."""
    with cli_errors(), open_cli_store() as store:
        info = store.revoke_api_key(key_id, actor=cli_actor())
    typer.echo(f"revoked API key {info.key_id} of {info.username} ({info.name})")


@app.command("keys")
def list_keys(
    username: Annotated[str | None, typer.Argument(help="Only this user's keys.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List API keys (ids, labels, bindings, last use; never the keys themselves)."""
    with cli_errors(), open_cli_store() as store:
        keys = store.list_api_keys(username)
        roles = {u.username: u.role for u in store.list_users()}
    if as_json:
        print_json([{**k.model_dump(mode="json"), "active": k.active} for k in keys])
        return
    print_table(
        f"{len(keys)} API keys",
        ("key_id", "user", "name", "bound to", "created_at", "last_used_at", "status"),
        [
            (
                k.key_id,
                k.username,
                k.name,
                _binding(k, roles.get(k.username)),
                k.created_at,
                k.last_used_at,
                "active" if k.active else f"revoked {k.revoked_at}",
            )
            for k in keys
        ],
    )


@app.command("audit")
def audit_log(
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many entries.")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this actor, e.g. cli:alice.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. sensor.add.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show the newest audit log entries: who changed what, and when."""
    with cli_errors(), open_cli_store() as store:
        entries = store.audit_log(limit, actor=actor, action=action)
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    print_table(
        f"last {len(entries)} audit entries",
        ("at", "actor", "action", "subject", "detail"),
        [(e.at, e.actor, e.action, e.subject, _brief(e.detail)) for e in entries],
    )


@app.command("pepper-status")
def pepper_status(as_json: JsonFlag = False) -> None:
    """How many keys each API-key pepper version hashes: how far a pepper rotation has come.

    Keys on a "previous" pepper still work and are re-hashed with the current one when next
    used; keys on an "unknown" version are refused and need replacing. Once no active key is
    on a previous version, that pepper can be dropped from SENSORGUARD_API_KEY_PREVIOUS_PEPPERS.
    """
    with cli_errors(), open_cli_store() as store:
        usage = store.pepper_usage()
    if as_json:
        print_json([u.model_dump(mode="json") for u in usage])
        return
    pending = sum(u.active_keys for u in usage if u.state != "current")
    print_table(
        f"API-key peppers: {pending} active keys not on the current pepper",
        ("version", "state", "active keys", "revoked keys"),
        [(u.version, u.state, u.active_keys, u.revoked_keys) for u in usage],
    )
