"""`sensorguard store …`: schema migration, retention purge, table stats, quick looks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from sensorguard.cli._common import JsonFlag, friendly_errors, print_json, print_table

if TYPE_CHECKING:
    from sensorguard.store import MaintainedStore

app = typer.Typer(
    help="The time-series store (SQLite embedded, or Cassandra).", no_args_is_help=True
)


@app.command("migrate")
@friendly_errors
def migrate() -> None:
    """Create or upgrade the store schema (safe to run twice)."""
    from sensorguard.settings import get_settings
    from sensorguard.store import open_store
    from sensorguard.wiring import redact_url

    settings = get_settings()
    store = open_store(settings.store_url, migrate=False)
    store.migrate()
    store.close()
    typer.echo(f"store schema up to date at {redact_url(settings.store_url)}")


@app.command("readings")
@friendly_errors
def readings(
    sensor_id: Annotated[list[str], typer.Argument(help="One or more sensor ids.")],
    hours: Annotated[float, typer.Option(help="How far back from --end to read.")] = 24.0,
    end: Annotated[
        datetime | None, typer.Option(help="End of the range (UTC) [default: now].")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 20,
) -> None:
    """Print a sensor's recent readings."""
    from sensorguard.schemas import utc_now
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_store

    stop = (end.replace(tzinfo=end.tzinfo or UTC)) if end else utc_now()
    store = open_configured_store(get_settings())
    rows = store.read_readings(sensor_id, stop - timedelta(hours=hours), stop)
    store.close()
    typer.echo(f"{len(rows)} readings")
    for r in rows[-limit:]:
        chans = " ".join(f"{k}={v:g}" for k, v in sorted(r.channels.items()))
        typer.echo(f"{r.sensor_id}  {r.ts.isoformat()}  {chans}")


def _open_maintained() -> tuple[MaintainedStore, str]:
    from sensorguard.errors import ConfigError
    from sensorguard.settings import get_settings
    from sensorguard.store import MaintainedStore
    from sensorguard.wiring import open_configured_store, redact_url

    settings = get_settings()
    store = open_configured_store(settings)
    if not isinstance(store, MaintainedStore):
        store.close()
        raise ConfigError(f"the store at {redact_url(settings.store_url)} has no housekeeping")
    return store, redact_url(settings.store_url)


def _size(n: int | None, estimated: bool) -> str:
    if n is None:
        return "-"
    size, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    text = f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
    return f"~{text}" if estimated else text


@app.command("stats")
@friendly_errors
def stats(as_json: JsonFlag = False) -> None:
    """Per table: rows, size on disk, oldest and newest data (Cassandra: estimates)."""
    from sensorguard.settings import get_settings

    store, where = _open_maintained()
    try:
        tables = store.stats()
    finally:
        store.close()
    if as_json:
        print_json([t.model_dump(mode="json") for t in tables])
        return
    retention = get_settings().retention_days
    print_table(
        f"store at {where} (retention {retention} days)",
        ("table", "rows", "partitions", "size", "oldest", "newest", "note"),
        [
            (
                t.table,
                "-" if t.rows is None else t.rows,
                "-" if t.partitions is None else f"~{t.partitions}",
                _size(t.bytes, t.bytes_estimated),
                t.oldest,
                t.newest,
                t.note,
            )
            for t in tables
        ],
    )


@app.command("purge")
@friendly_errors
def purge() -> None:
    """Delete what is older than SENSORGUARD_RETENTION_DAYS now (SQLite; Cassandra's TTLs
    expire rows by themselves). Writers also purge the SQLite store every
    SENSORGUARD_STORE_PURGE_INTERVAL_S."""
    from sensorguard.settings import get_settings

    store, where = _open_maintained()
    try:
        deleted = store.purge()
    finally:
        store.close()
    days = get_settings().retention_days
    summary = ", ".join(f"{n} from {table}" for table, n in deleted.items())
    typer.echo(f"purged rows older than {days} days at {where}: {summary}")
