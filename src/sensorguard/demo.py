"""The end-to-end demo: simulate a fleet, ingest it over HTTP, store it, report what happened."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from sensorguard.report.data import StepTime
from sensorguard.schemas import to_utc_ms
from sensorguard.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sensorguard.demo_live import LiveReport
    from sensorguard.drift.records import DriftCheck
    from sensorguard.ingest.pipeline import IngestPipeline
    from sensorguard.metadata import MetadataStore
    from sensorguard.simulate import Simulation
    from sensorguard.store import TimeSeriesStore
    from sensorguard.stream import Stream


ANCHOR_WEEKDAY = 1  # Tuesday (Monday = 0): the history covers Saturday to Monday night
# After the live part, the climate sensors get a firmware update that makes them noisier (a
# new normal, not a fault) and send DRIFT_DAYS more: one day the retraining learns the new
# regime from, one it is evaluated on (and the drift check's 24-hour window).
DRIFT_DAYS = 2.0
DRIFT_TYPES = ("climate",)
DRIFT_NOISE = {"temperature": 0.6, "humidity": 2.0}  # standard deviations added, °C and %RH


class Laps:
    """Times the demo's steps: each lap runs from the end of the previous one."""

    def __init__(self) -> None:
        self.steps: list[StepTime] = []
        self._since = time.perf_counter()

    def __call__(self, step: str, result: str) -> None:
        now = time.perf_counter()
        self.steps.append(StepTime(step, result, now - self._since))
        self._since = now


@dataclass(frozen=True)
class ServiceURLs:
    """Where `demo --services` finds the real servers (the ones `make services-up` starts).

    The stream gets a topic namespace (`demo`, or a fresh `demo-<time>` with --fresh) unless the
    URL names one; the keyspace is the demo's own, emptied by --fresh.
    """

    stream: str = "kafka://127.0.0.1:9092"
    store: str = "cassandra://127.0.0.1:9042/sensorguard_demo"
    mqtt: str = "mqtt://127.0.0.1:1883"

    def settings_for(self, settings: Settings, *, fresh: bool) -> Settings:
        stream = self.stream
        if "namespace=" not in stream:
            stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
            stream = f"{stream.rstrip('/')}/?namespace=" + (f"demo-{stamp}" if fresh else "demo")
        return settings.model_copy(
            update={"stream_url": stream, "store_url": self.store, "mqtt_url": self.mqtt}
        )


@dataclass
class DemoReport:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    stored: int = 0
    stored_per_sensor: dict[str, int] = field(default_factory=dict)
    dead_letters_by_field: Counter[str] = field(default_factory=Counter)
    dead_letter_examples: dict[str, str] = field(default_factory=dict)
    champions: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0  # accepted readings whose (sensor_id, ts) is not in the store
    live: LiveReport | None = None  # the champions scoring live data (after training)
    drift: list[DriftCheck] = field(default_factory=list)  # checks after the regime change
    retrained: list[dict[str, Any]] = field(default_factory=list)  # champion rows after it
    steps: list[StepTime] = field(default_factory=list)
    report_path: Path | None = None  # the HTML report


def run_demo(
    settings: Settings,
    *,
    sensors: int = 18,
    sites: int = 3,
    days: float = 3.0,
    seed: int = 1,
    fault_rate: float = 3.0,
    fresh: bool = False,
    services: ServiceURLs | None = None,
    train: bool = True,
    console: Console | None = None,
) -> DemoReport:
    """Simulate -> register -> ingest -> stream -> writer -> store -> train + promote -> serve,
    stream-score, alert -> inject drift -> drift check -> retrain + promote -> HTML report.

    With `services`, the same path runs on Mosquitto -> Kafka -> Cassandra: two thirds of the
    fleet publish over MQTT (the bridge runs in this process), the rest over HTTP.
    """
    from sensorguard.ingest.http import create_app
    from sensorguard.ingest.writer import run_writer
    from sensorguard.simulate import SimulationConfig, simulate_fleet
    from sensorguard.wiring import (
        build_pipeline,
        open_configured_metadata,
        open_configured_store,
        open_configured_stream,
    )

    console = console or Console()
    laps = Laps()
    if fresh and settings.data_dir.exists():
        console.print(f"[dim]removing {settings.data_dir} (--fresh)[/dim]")
        shutil.rmtree(settings.data_dir)
    if services is not None:
        settings = services.settings_for(settings, fresh=fresh)
        console.print(
            f"[dim]servers: {settings.mqtt_url} -> {settings.stream_url} -> {settings.store_url}"
            "[/dim]"
        )

    # The history ends at the start of the last UTC Tuesday that leaves room for the drifted
    # days before now (ingest refuses readings from the future): recent enough to look live,
    # and the same seed gives the same fleet (and the same champions) all week. The simulated
    # sound follows the weekday (quieter weekends), so a daily anchor would change the data
    # and the champions from one day to the next.
    room = datetime.now(UTC) - timedelta(days=DRIFT_DAYS)
    today = room.replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = today - timedelta(days=(today.weekday() - ANCHOR_WEEKDAY) % 7)
    sim = simulate_fleet(
        SimulationConfig(
            sensors=sensors,
            sites=sites,
            days=days,
            seed=seed,
            fault_rate=fault_rate,
            start=midnight - timedelta(days=days),
        )
    )
    console.print(
        f"[bold]1/4 simulated[/bold] {len(sim.readings):,} readings from {len(sim.sensors)} sensors "
        f"over {days:g} days with {len(sim.labels)} labelled faults"
    )
    laps("simulate", f"{len(sim.readings):,} readings, {len(sim.labels)} labelled faults")

    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="demo")
    outcome = metadata.add_sensors(sim.sensors, upsert=True, actor="demo")
    api_key = demo_key(metadata)
    console.print(
        f"[bold]2/4 registered[/bold] {len(outcome.added)} new sensors "
        f"({len(outcome.unchanged)} unchanged), and a demo API key (role data_scientist)"
    )
    laps("register", f"{len(sim.sensors)} sensors, a demo API key")

    stream, store = open_configured_stream(settings), open_configured_store(settings)
    if fresh and services is not None:
        from sensorguard.store.cassandra import CassandraStore

        if isinstance(store, CassandraStore):
            console.print(f"[dim]emptying keyspace {store.keyspace} (--fresh)[/dim]")
            store.truncate()
    # The demo is a backfill of days of history in seconds: lift the per-device rate limits
    # that protect a live ingest endpoint from a misbehaving sensor.
    backfill = settings.model_copy(
        update={"rate_limit_per_sensor": 1e9, "rate_limit_per_client": 1e9}
    )
    pipeline = build_pipeline(backfill, metadata, stream)
    app = create_app(pipeline, backfill)
    if services is None:
        sent, accepted, rejected = _ingest_http(sim, app, api_key)
        doors = "over HTTP"
    else:
        sent, accepted, rejected = _ingest_mqtt_and_http(
            sim, app, pipeline, backfill, console, api_key
        )
        doors = "over MQTT and HTTP"
    console.print(
        f"[bold]3/4 ingested[/bold] {doors}: {accepted:,} accepted, "
        f"{rejected:,} rejected (sent to the dead-letter topic with reasons)"
    )
    laps("ingest", f"{accepted:,} accepted, {rejected:,} dead-lettered {doors}")

    stats = run_writer(stream, store, until_idle_s=1.0)
    report = summarize(sim, stream, store, sent, accepted, rejected)
    console.print(
        f"[bold]4/4 stored[/bold] {stats.written:,} readings written by the store writer "
        f"({report.stored:,} distinct rows in the store)"
    )
    store.close()
    stream.close()
    metadata.close()
    print_report(report, console)
    laps("store", f"{report.stored:,} rows, {report.lost} lost")
    if train and not report.lost:
        from sensorguard.pipelines import demo_training

        # Simulator labels stand in for an operator's labelled windows.
        report.champions = demo_training(settings, console, labels=sim.labels, end=sim.end)
        laps(
            "train + promote",
            ", ".join(f"{r['group']} v{r['champion']}" for r in report.champions if r["champion"]),
        )
        if any(row.get("champion") for row in report.champions):
            report.live = _live(settings, backfill, sim, api_key, console, laps)
            _drift_and_retrain(settings, backfill, sim, api_key, console, laps, report)
            report.report_path = _write_report(settings, console, laps)
            report.steps = laps.steps
            print_summary(report.steps, console)
            print_next_steps(console, report.report_path)
    return report


def drifted_days(sim: Simulation) -> Simulation:
    """The DRIFT_DAYS after the history, of the DRIFT_TYPES sensors, after their firmware
    update: the same simulator continued (same seed, so the same sensors), then made noisier
    by `simulate.noisier`, the simulator's one home of regime changes."""
    from sensorguard.simulate import noisier, simulate_fleet

    after = simulate_fleet(sim.config.model_copy(update={"start": sim.end, "days": DRIFT_DAYS}))
    updated = after.subset({s.sensor_id for s in after.sensors if s.sensor_type in DRIFT_TYPES})
    return noisier(updated, DRIFT_NOISE, seed=sim.config.seed)


def _drift_and_retrain(
    settings: Settings,
    backfill: Settings,
    sim: Simulation,
    api_key: str,
    console: Console,
    laps: Laps,
    report: DemoReport,
) -> None:
    """Inject drift, check every group for it, retrain the drifted ones (the gate decides)."""
    from sensorguard.demo_live import score_stream
    from sensorguard.pipelines import check_drift, retrain_drifted
    from sensorguard.report.data import demo_labels_path
    from sensorguard.training.labels import from_simulation, write_labels_csv
    from sensorguard.training.report import champion_rows, print_champions, progress_reporter

    drifted = drifted_days(sim)
    with _ingest_app(settings, backfill) as app:
        _, accepted, _ = _ingest_http(drifted, app, api_key)
    scored, _ = score_stream(settings)
    console.print(
        f"[bold]drift 1/3 injected[/bold] a firmware update makes the {', '.join(DRIFT_TYPES)} "
        f"sensors noisier (+"
        + ", +".join(f"{sd:g} {c}" for c, sd in DRIFT_NOISE.items())
        + f" sd) from {sim.end:%m-%d %H:%M}: {accepted:,} readings over {DRIFT_DAYS:g} days "
        f"over HTTP, stored and stream-scored by the old champions ({scored.flagged:,} of "
        f"{scored.scored:,} flagged)"
    )
    laps("inject drift", f"{accepted:,} noisier readings of {len(drifted.sensors)} sensors")

    end = drifted.end
    with progress_reporter(console) as progress:
        report.drift = check_drift(settings, end=end, progress=progress)
    print_drift(report.drift, console)
    found = [c.group for c in report.drift if c.drifted]
    console.print(
        f"[bold]drift 2/3 checked[/bold] every group's last 24 h against its champion's "
        f"training rows: {', '.join(found) or 'none'} drifted"
    )
    laps("drift check", f"drifted: {', '.join(found) or 'none'}")

    # The retraining reads the labels file, as a scheduled one would: the simulator's
    # windows of both periods stand in for an operator's.
    labels = write_labels_csv(
        from_simulation([*sim.labels, *drifted.labels]), demo_labels_path(settings)
    )
    labelled = settings.model_copy(update={"labels_path": labels})
    with progress_reporter(console) as progress:
        outcomes = retrain_drifted(labelled, report.drift, end=end, progress=progress)
    report.retrained = champion_rows(outcomes)
    if report.retrained:
        print_champions(report.retrained, console)
    verdicts = [
        f"{o['decision']['group']} "
        + (
            f"v{o['decision']['previous_version']} -> v{o['decision']['champion_version']}"
            if o["decision"]["promoted"]
            else f"kept v{o['decision']['champion_version']}"
        )
        for o in outcomes
    ]
    console.print(
        f"[bold]drift 3/3 retrained[/bold] the drifted groups with trigger_reason 'drift: ...'; "
        f"the quality gate decided: {'; '.join(verdicts) or 'nothing to retrain'}"
    )
    laps("retrain + promote", "; ".join(verdicts) or "nothing drifted")


def print_drift(checks: list[DriftCheck], console: Console) -> None:
    """The checks in 80 columns (`sensorguard drift check` prints the wide table)."""
    table = Table(title="Drift checks (last 24 h vs the champion's training rows)")
    for col in ("group", "champion", "drifted features", "score shift", "drifted"):
        table.add_column(col, justify="right" if col in ("score shift",) else "left")
    for c in checks:
        share = (
            "-" if c.drifted_share is None else f"{len(c.drifted_features)} ({c.drifted_share:.0%})"
        )
        verdict = "[red]yes[/red]" if c.drifted else ("skipped" if c.status == "skipped" else "no")
        shift = "-" if c.score_shift is None else f"{c.score_shift:.2f}"
        table.add_row(c.group, f"v{c.champion_version or '-'}", share, shift, verdict)
    console.print(table)
    for c in checks:
        console.print(f"[dim]{c.group}: {'; '.join(c.reasons) or 'within the policy'}[/dim]")
        if c.report_path:
            console.print(f"[dim]  Evidently report: {c.report_path}[/dim]")


def _write_report(settings: Settings, console: Console, laps: Laps) -> Path:
    from sensorguard.report import build_report, write_steps

    # The report's summary holds every step but its own: it is timed after being written.
    write_steps(settings, laps.steps)
    path = build_report(settings)
    laps("report", str(path))
    write_steps(settings, laps.steps)
    console.print(f"[bold]report[/bold] {path}")
    return path


def print_summary(steps: list[StepTime], console: Console) -> None:
    table = Table(title="Demo summary")
    table.add_column("step", no_wrap=True)
    table.add_column("result")
    table.add_column("s", justify="right")
    for s in steps:
        table.add_row(s.step, s.result, f"{s.seconds:.0f}")
    table.add_row("total", "", f"{sum(s.seconds for s in steps):.0f}")
    console.print(table)


def print_next_steps(console: Console, report: Path | None = None) -> None:
    """Where to look at what the demo made (every command reads the same data folder)."""
    table = Table(title="Look next", show_header=False, box=None, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column()
    for row in (
        ("make mlflow-ui", "http://127.0.0.1:5000", "runs, registry, @champion"),
        ("make airflow-ui", "http://127.0.0.1:8080", "the DAGs"),
        ("make operators", "http://127.0.0.1:8002/live", "alerts, live scores"),
        ("make serve", "http://127.0.0.1:3000", "POST /score"),
    ):
        table.add_row(*row)
    if report is not None:
        # On a line of its own: a long path would squeeze the table's columns to nothing.
        console.print("[bold]The report of this run[/bold] (`sensorguard report` rebuilds it):")
        console.print(report.as_uri(), soft_wrap=True)
    console.print(table)
    console.print(
        "The last two need a key (`sensorguard users key-create demo`); "
        "`sensorguard alerts history --hours 240` lists what the shipped rules raised."
    )


def demo_key(metadata: MetadataStore) -> str:
    """A fresh API key of the demo's user (created on first use): every route needs one."""
    from sensorguard.errors import AlreadyExists

    with contextlib.suppress(AlreadyExists):
        metadata.add_user("demo", "data_scientist", actor="demo")
    return metadata.create_api_key("demo", "make demo", actor="demo")[1]


def _live(
    settings: Settings,
    backfill: Settings,
    sim: Simulation,
    api_key: str,
    console: Console,
    laps: Laps,
) -> LiveReport:
    from sensorguard.demo_live import run_live
    from sensorguard.serve_thread import serve_in_thread

    with _ingest_app(settings, backfill) as app, serve_in_thread(app) as url:
        return run_live(settings, sim, api_key, url, console, laps)


@contextlib.contextmanager
def _ingest_app(settings: Settings, backfill: Settings) -> Iterator[FastAPI]:
    """The HTTP ingest app on the demo's backends, with `backfill`'s lifted rate limits."""
    from sensorguard.ingest.http import create_app
    from sensorguard.wiring import build_pipeline, open_configured_metadata, open_configured_stream

    metadata, stream = open_configured_metadata(settings), open_configured_stream(settings)
    try:
        yield create_app(build_pipeline(backfill, metadata, stream), backfill)
    finally:
        stream.close()
        metadata.close()


def _ingest_http(sim: Simulation, app: FastAPI, api_key: str) -> tuple[int, int, int]:
    from sensorguard.serve_thread import serve_in_thread
    from sensorguard.simulate import publish_http

    with serve_in_thread(app) as url:
        published = publish_http(sim, url, batch_size=1000, api_key=api_key, progress=True)
    return published.sent, published.accepted, published.rejected


def _ingest_mqtt_and_http(
    sim: Simulation,
    app: FastAPI,
    pipeline: IngestPipeline,
    settings: Settings,
    console: Console,
    api_key: str,
) -> tuple[int, int, int]:
    from sensorguard.errors import BackendUnavailable
    from sensorguard.ingest.mqtt import MqttBridge, publish_mqtt
    from sensorguard.serve_thread import serve_in_thread
    from sensorguard.simulate import publish_http

    ids = [s.sensor_id for s in sim.sensors]
    cut = max(1, len(ids) * 2 // 3)
    over_mqtt, over_http = sim.subset(set(ids[:cut])), sim.subset(set(ids[cut:]))
    # A clean session under a one-off id: the demo leaves no session queueing on the broker.
    bridge = MqttBridge(
        pipeline,
        settings.mqtt_url,
        client_id=f"sensorguard-demo-{uuid.uuid4().hex[:8]}",
        settings=settings,
        clean_session=True,
    )
    with bridge, serve_in_thread(app) as url:
        # An hour of one sensor per message: a backfill, not a live feed. It also keeps the
        # broker's per-client queue (mosquitto: 1000 messages) from overflowing.
        sent_mqtt = publish_mqtt(over_mqtt, settings.mqtt_url, batch=60, settings=settings)
        console.print(
            f"    MQTT: {sent_mqtt.readings:,} readings of {cut} sensors in "
            f"{sent_mqtt.messages:,} messages, all acknowledged by the broker"
        )
        http = (
            publish_http(over_http, url, batch_size=1000, api_key=api_key, progress=True)
            if len(ids) > cut
            else None
        )
        if not bridge.wait_for(sent_mqtt.messages, timeout_s=120):
            raise BackendUnavailable(
                f"the MQTT bridge handled {bridge.stats.messages} of {sent_mqtt.messages} "
                f"messages within 120s; see the broker's log"
            )
    mqtt = bridge.stats
    sent = sent_mqtt.readings + (http.sent if http else 0)
    accepted = mqtt.accepted + (http.accepted if http else 0)
    rejected = mqtt.rejected + (http.rejected if http else 0)
    return sent, accepted, rejected


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
    rows = store.read_readings([s.sensor_id for s in sim.sensors], sim.start, sim.end)
    counts = Counter(r.sensor_id for r in rows)
    report.stored_per_sensor = {s.sensor_id: counts[s.sensor_id] for s in sim.sensors}
    report.stored = len(rows)
    stored = {r.key() for r in rows}
    refused: set[tuple[str, datetime]] = set()
    consumer = stream.consumer([SENSOR_DATA_DLQ], group="demo-report")
    while batch := consumer.poll(1000, timeout_s=0.5):
        for rec in batch:
            letter = decode_dead_letter(rec.value)
            report.dead_letters_by_field[letter.field] += 1
            report.dead_letter_examples.setdefault(letter.field, letter.reason)
            if isinstance(letter.raw, dict) and "ts" in letter.raw:
                refused.add((str(letter.raw.get("sensor_id")), _parse_ts(letter.raw["ts"])))
        consumer.commit(batch)
    consumer.close()
    # Compare keys, not counts: an earlier run's rows may share the window (the demo's start
    # follows the clock), and a count would hide a loss behind them.
    report.lost = len(sim.keys() - refused - stored)
    return report


def _parse_ts(value: object) -> datetime:
    return to_utc_ms(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


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
