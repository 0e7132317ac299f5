"""`sensorguard store …`: schema migration and quick looks at stored readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from sensorguard.cli._common import friendly_errors

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
