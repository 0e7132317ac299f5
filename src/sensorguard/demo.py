"""The end-to-end demo: simulate a fleet, ingest it over HTTP, store it, report what happened."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from sensorguard.settings import Settings

if TYPE_CHECKING:
    from sensorguard.simulate import Simulation
    from sensorguard.store import TimeSeriesStore
    from sensorguard.stream import Stream


@dataclass
class DemoReport:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    stored: int = 0
    stored_per_sensor: dict[str, int] = field(default_factory=dict)
    dead_letters_by_field: Counter[str] = field(default_factory=Counter)
    dead_letter_examples: dict[str, str] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.accepted - self.stored


def run_demo(
    settings: Settings,
    *,
    sensors: int = 12,
    sites: int = 3,
    days: float = 3.0,
    seed: int = 7,
    fresh: bool = False,
    console: Console | None = None,
) -> DemoReport:
    """Simulate -> register sensors -> HTTP ingest -> stream -> writer -> store; then report."""
    from sensorguard.ingest.http import create_app
    from sensorguard.ingest.writer import run_writer
    from sensorguard.serve_thread import serve_in_thread
    from sensorguard.simulate import SimulationConfig, publish_http, simulate_fleet
    from sensorguard.wiring import (
        build_pipeline,
        open_configured_metadata,
        open_configured_store,
        open_configured_stream,
    )

    console = console or Console()
    if fresh and settings.data_dir.exists():
        console.print(f"[dim]removing {settings.data_dir} (--fresh)[/dim]")
        shutil.rmtree(settings.data_dir)

    sim = simulate_fleet(SimulationConfig(sensors=sensors, sites=sites, days=days, seed=seed))
    console.print(
        f"[bold]1/4 simulated[/bold] {len(sim.readings):,} readings from {len(sim.sensors)} sensors "
        f"over {days:g} days with {len(sim.labels)} labelled faults"
    )

    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="demo")
    outcome = metadata.add_sensors(sim.sensors, upsert=True, actor="demo")
    console.print(
        f"[bold]2/4 registered[/bold] {len(outcome.added)} new sensors "
        f"({len(outcome.unchanged)} unchanged)"
    )

    stream, store = open_configured_stream(settings), open_configured_store(settings)
    # The demo is a backfill of days of history in seconds: lift the per-device rate limits
    # that protect a live ingest endpoint from a misbehaving sensor.
    backfill = settings.model_copy(
        update={"rate_limit_per_sensor": 1e9, "rate_limit_per_client": 1e9}
    )
    app = create_app(build_pipeline(backfill, metadata, stream), backfill)
    with serve_in_thread(app) as url:
        published = publish_http(sim, url, batch_size=1000, progress=True)
    console.print(
        f"[bold]3/4 ingested[/bold] over HTTP: {published.accepted:,} accepted, "
        f"{published.rejected:,} rejected (sent to the dead-letter topic with reasons)"
    )

    stats = run_writer(stream, store, until_idle_s=1.0)
    report = summarize(sim, stream, store, published.sent, published.accepted, published.rejected)
    console.print(
        f"[bold]4/4 stored[/bold] {stats.written:,} readings written by the store writer "
        f"({report.stored:,} distinct rows in the store)"
    )
    store.close()
    stream.close()
    metadata.close()
    print_report(report, console)
    return report


def summarize(
    sim: Simulation,
    stream: Stream,
    store: TimeSeriesStore,
    sent: int,
    accepted: int,
    rejected: int,
) -> DemoReport:
    from sensorguard.stream import SENSOR_DATA_DLQ
    from sensorguard.stream.codec import decode_dead_letter

    report = DemoReport(sent=sent, accepted=accepted, rejected=rejected)
    for sensor in sim.sensors:
        n = len(store.read_readings([sensor.sensor_id], sim.start, sim.end))
        report.stored_per_sensor[sensor.sensor_id] = n
    report.stored = sum(report.stored_per_sensor.values())
    consumer = stream.consumer([SENSOR_DATA_DLQ], group="demo-report")
    while batch := consumer.poll(1000, timeout_s=0.5):
        for rec in batch:
            letter = decode_dead_letter(rec.value)
            report.dead_letters_by_field[letter.field] += 1
            report.dead_letter_examples.setdefault(letter.field, letter.reason)
        consumer.commit(batch)
    consumer.close()
    return report


def print_report(report: DemoReport, console: Console) -> None:
    table = Table(title="Readings per sensor")
    table.add_column("sensor")
    table.add_column("stored", justify="right")
    for sensor_id, n in sorted(report.stored_per_sensor.items()):
        table.add_row(sensor_id, f"{n:,}")
    console.print(table)
    rejected = Table(title="Rejected rows by reason (dead-letter topic)")
    rejected.add_column("field")
    rejected.add_column("rows", justify="right")
    rejected.add_column("example reason")
    for fld, n in report.dead_letters_by_field.most_common():
        rejected.add_row(fld, f"{n:,}", report.dead_letter_examples[fld])
    console.print(rejected)
    lost = report.lost
    verdict = "[green]nothing lost[/green]" if lost == 0 else f"[red]{lost} readings missing[/red]"
    console.print(
        f"sent {report.sent:,} = accepted {report.accepted:,} + rejected {report.rejected:,}; "
        f"stored {report.stored:,}: {verdict}"
    )
