"""`sensorguard simulate`: generate a sensor fleet's readings with labelled faults, save or send them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from sensorguard.errors import SensorGuardError
from sensorguard.simulate.config import BUILTIN_TYPE_NAMES, FaultKind, SimulationConfig

if TYPE_CHECKING:
    from sensorguard.simulate.fleet import Simulation
    from sensorguard.simulate.publish import PublishResult

_FIELDS = SimulationConfig.model_fields


def _default(name: str) -> Any:
    return _FIELDS[name].default


def _split(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return allowed
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in items if p not in allowed]
    if unknown or not items:
        raise typer.BadParameter(
            f"{what} must be 'all' or a comma list of {', '.join(allowed)}; got {text!r}"
        )
    return items


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"start must be an ISO-8601 time like 2024-05-01T00:00:00Z, got {text!r}",
            param_hint="--start",
        ) from None
    # A naive time is read as UTC, the only zone on the wire.
    return start if start.tzinfo else start.replace(tzinfo=UTC)


def _summary(sim: Simulation, console: Console) -> None:
    readings = sim.readings["sensor_id"].value_counts()
    faults: dict[str, int] = {}
    for label in sim.labels:
        faults[label.sensor_id] = faults.get(label.sensor_id, 0) + 1
    fleet = Table(title="Fleet")
    for col in ("sensor", "type", "site", "readings", "faults"):
        fleet.add_column(col, justify="right" if col in ("readings", "faults") else "left")
    for s in sim.sensors:
        fleet.add_row(
            s.sensor_id,
            s.sensor_type,
            s.site,
            f"{int(readings.get(s.sensor_id, 0)):,}",
            str(faults.get(s.sensor_id, 0)),
        )
    console.print(fleet)

    points = sim.point_labels()
    rows = points.loc[points["label"] == 1, "kind"].value_counts()
    by_kind = Table(title="Faults by kind")
    for col in ("kind", "faults", "rows affected"):
        by_kind.add_column(col, justify="left" if col == "kind" else "right")
    for kind in sim.config.fault_kinds:
        count = sum(1 for label in sim.labels if label.kind is kind)
        affected = (
            "rows removed" if kind is FaultKind.DROPOUT else f"{int(rows.get(kind.value, 0)):,}"
        )
        by_kind.add_row(kind.value, str(count), affected)
    console.print(by_kind)
    start = sim.start.isoformat().replace("+00:00", "Z")
    console.print(
        f"{len(sim.readings):,} readings from {len(sim.sensors)} sensors, {start} to "
        f"{sim.end.isoformat().replace('+00:00', 'Z')} every {sim.config.interval_s}s; "
        f"{len(sim.labels)} faults. Reproduce with --seed {sim.config.seed} --start {start}"
    )


def _publish_summary(result: PublishResult, console: Console) -> None:
    table = Table(title="Published")
    table.add_column("sent", justify="right")
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("batches", justify="right")
    table.add_column("retries", justify="right")
    table.add_row(
        *(
            f"{v:,}"
            for v in (result.sent, result.accepted, result.rejected, result.batches, result.retries)
        )
    )
    console.print(table)
    if result.rejections_by_field:
        why = Table(title="Rejections by field")
        why.add_column("field")
        why.add_column("count", justify="right")
        why.add_column("example reason")
        for name, count in result.rejections_by_field.most_common():
            why.add_row(name, f"{count:,}", result.rejection_examples.get(name, ""))
        console.print(why)


def simulate(
    sensors: Annotated[
        int, typer.Option("--sensors", "-n", min=1, help="Number of sensors.")
    ] = _default("sensors"),
    sites: Annotated[int, typer.Option(min=1, help="Number of sites.")] = _default("sites"),
    days: Annotated[float, typer.Option(min=0.0, help="Days of readings.")] = _default("days"),
    interval: Annotated[int, typer.Option(min=1, help="Seconds between readings.")] = _default(
        "interval_s"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = _default("seed"),
    fault_rate: Annotated[
        float, typer.Option(min=0.0, help="Faults per sensor-day (0: clean data).")
    ] = _default("fault_rate"),
    faults: Annotated[
        str,
        typer.Option(help=f"Fault kinds, 'all' or a comma list of: {', '.join(FaultKind)}."),
    ] = "all",
    types: Annotated[
        str,
        typer.Option(
            help=f"Sensor types, 'all' or a comma list of: {', '.join(BUILTIN_TYPE_NAMES)}."
        ),
    ] = "all",
    start: Annotated[
        str | None,
        typer.Option(
            help="First reading time, ISO-8601 (naive = UTC). Default: now minus the span."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            file_okay=False,
            help="Write readings.jsonl, readings.csv, labels.csv, sensors.json here.",
        ),
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(help="Ingest base URL to POST readings to, e.g. http://127.0.0.1:8000."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Readings per second when publishing (default: as fast as accepted)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Readings per POST.")] = 500,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="SENSORGUARD_API_KEY", help="API key for ingest (X-API-Key)."),
    ] = None,
) -> None:
    """Simulate a sensor fleet with labelled faults; print a summary, save files, or publish.

    Examples:

      sensorguard simulate

      sensorguard simulate -n 50 --days 7 --seed 1 -o data/sim

      sensorguard simulate --faults spike,stuck --fault-rate 2 --start 2024-05-01T00:00:00Z -o sim

      sensorguard simulate --days 1 --publish http://127.0.0.1:8000 --rate 200
    """
    from sensorguard.simulate.fleet import simulate_fleet

    console = Console()
    errors = Console(stderr=True)
    try:
        config = SimulationConfig(
            sensors=sensors,
            sites=sites,
            days=days,
            interval_s=interval,
            start=_parse_start(start),
            seed=seed,
            fault_rate=fault_rate,
            fault_kinds=tuple(FaultKind(k) for k in _split(faults, tuple(FaultKind), "--faults")),
            sensor_types=_split(types, BUILTIN_TYPE_NAMES, "--types"),
        )
    except ValidationError as err:
        for problem in err.errors(include_url=False):
            where = ".".join(str(p) for p in problem["loc"]) or "options"
            errors.print(f"[red]error:[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from None

    sim = simulate_fleet(config)
    _summary(sim, console)
    try:
        if output is not None:
            from sensorguard.simulate.io import write_simulation

            paths = write_simulation(sim, output, progress=True)
            console.print(f"wrote {', '.join(p.name for p in paths.values())} to {output}")
        if publish is not None:
            from sensorguard.simulate.publish import publish_http

            def retrying(problem: str, wait: float) -> None:
                errors.print(f"[yellow]ingest:[/yellow] {problem}; retrying in {wait:g}s")

            result = publish_http(
                sim,
                publish,
                rate=rate,
                batch_size=batch_size,
                api_key=api_key,
                progress=True,
                on_retry=retrying,
            )
            _publish_summary(result, console)
    except SensorGuardError as err:
        errors.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
