"""The demo's second half: the champions score live data, in the stream and over HTTP.

After training, a sensor is installed (registered and sending), the stream scorer scores the
whole `sensor-data` stream with each sensor's group champion, the BentoML service is started
as `bentoml serve` would run it for a user, and a few `POST /score` answers are printed with
the faults the stream found on the held-out day and the kinds it gave them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from sensorguard.alerting.records import Alert
from sensorguard.schemas import Score, Sensor
from sensorguard.settings import Settings

if TYPE_CHECKING:
    from sensorguard.serving.stream import ScorerStats
    from sensorguard.simulate import Simulation

Lap = Callable[[str, str], None]  # (step, result): the demo's step timer


def _no_lap(step: str, result: str) -> None:
    return None


LATE_SENSOR = "th-late-1"
RULES_DIR = Path(__file__).resolve().parents[2] / "infra" / "alerts"
LATE_HOURS = 6


@dataclass
class LiveReport:
    scored: int = 0
    flagged: int = 0
    seconds: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    late_scored: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[Score] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    webhook_posts: int = 0


def late_sensor(sim: Simulation) -> tuple[Sensor, list[dict[str, Any]]]:
    """A climate sensor installed after training: its last LATE_HOURS of readings (wire form)."""
    from sensorguard.simulate import SimulationConfig, simulate_fleet

    site = sim.sensors[0].site
    late = simulate_fleet(
        SimulationConfig(
            sensors=1,
            sites=1,
            days=LATE_HOURS / 24,
            seed=7,
            fault_rate=0,
            sensor_types=("climate",),
            start=sim.end - timedelta(hours=LATE_HOURS),
        )
    )
    rows = [{**row, "sensor_id": LATE_SENSOR} for row in late.iter_raw()]
    return Sensor(sensor_id=LATE_SENSOR, sensor_type="climate", site=site, location="new"), rows


def score_stream(settings: Settings) -> tuple[ScorerStats, float]:
    """Store what the stream holds, then stream-score it with each group's @champion (from
    the scorer's committed offset on: what it has not scored yet); the scorer's seconds."""
    from sensorguard.ingest.writer import run_writer
    from sensorguard.serving.scorer import build_live_scorer
    from sensorguard.serving.stream import run_stream_scorer
    from sensorguard.wiring import open_configured_store, open_configured_stream

    stream, store = open_configured_stream(settings), open_configured_store(settings)
    try:
        run_writer(stream, store, until_idle_s=1.0)
        scorer = build_live_scorer(settings, store, stateful=True, surface="stream")
        scorer.models.refresh()
        started = time.perf_counter()
        stats = run_stream_scorer(stream, store, scorer, until_idle_s=1.0)
        return stats, time.perf_counter() - started
    finally:
        store.close()
        stream.close()


def run_live(
    settings: Settings,
    sim: Simulation,
    api_key: str,
    ingest_url: str,
    console: Console,
    lap: Lap = _no_lap,
) -> LiveReport:
    """Install a sensor, stream-score everything, serve the champions, print what they say."""
    import httpx

    from sensorguard.serving.shadow import episode_onsets
    from sensorguard.wiring import open_configured_metadata, open_configured_store

    report = LiveReport()
    sensor, rows = late_sensor(sim)
    metadata = open_configured_metadata(settings)
    metadata.add_sensors([sensor], upsert=True, actor="demo")
    metadata.close()
    answer = httpx.post(
        f"{ingest_url}/v1/readings", json={"readings": rows}, headers={"X-API-Key": api_key}
    )
    answer.raise_for_status()
    console.print(
        f"[bold]live 1/3 installed[/bold] {LATE_SENSOR} after training: "
        f"{answer.json()['accepted']} readings over HTTP"
    )
    lap("install sensor", f"{LATE_SENSOR}: {answer.json()['accepted']} readings")

    stats, report.seconds = score_stream(settings)
    report.scored, report.flagged = stats.scored, stats.flagged
    held_out = sim.end - timedelta(days=1)
    ids = [s.sensor_id for s in sim.sensors]
    store = open_configured_store(settings)
    try:
        recent = store.read_scores([*ids, LATE_SENSOR], held_out, sim.end + timedelta(hours=1))
    finally:
        store.close()
    report.kinds = Counter(s.kind for s in recent if s.flag)
    report.late_scored = sum(s.sensor_id == LATE_SENSOR for s in recent)
    report.episodes = episode_onsets(recent)
    console.print(
        f"[bold]live 2/3 stream-scored[/bold] {report.scored:,} readings in {report.seconds:.1f} s "
        f"({report.scored / max(report.seconds, 1e-9):,.0f} readings/s, one process) into "
        f"anomaly-scores and the scores table; {LATE_SENSOR} got {report.late_scored} verdicts "
        "from its first reading on"
    )
    print_episodes(report.episodes, sim, console)
    lap("stream-score", f"{report.scored:,} readings, {report.flagged:,} flagged")
    report.alerts, report.webhook_posts = _raise_alerts(settings, sim, console)
    lap("alert", f"{len(report.alerts)} alerts, {report.webhook_posts} webhook posts")

    report.answers = _serve_and_ask(settings, sim, api_key, rows, console)
    lap("serve", f"bentoml serve: {len(report.answers)} POST /score answers")
    return report


def _raise_alerts(settings: Settings, sim: Simulation, console: Console) -> tuple[list[Alert], int]:
    """The shipped rules (infra/alerts/) over the scored stream, delivered to a webhook."""
    from sensorguard.alerting.delivery import WebhookDelivery
    from sensorguard.alerting.engine import AlertEngine
    from sensorguard.alerting.receiver import webhook_receiver
    from sensorguard.alerting.rules import load_rules_dir
    from sensorguard.alerting.runner import run_engine
    from sensorguard.alerting.store import AlertStore
    from sensorguard.validation import CachedCatalog
    from sensorguard.wiring import open_configured_metadata, open_configured_stream

    rules = load_rules_dir(RULES_DIR)
    metadata, stream = open_configured_metadata(settings), open_configured_stream(settings)
    store = AlertStore.from_settings(settings)
    try:
        for rule in rules:
            metadata.put_alert_rule(rule.name, rule.definition(), actor="demo")
        with webhook_receiver() as receiver:
            delivery = WebhookDelivery(
                receiver.url, silences_path=settings.data_dir / "silences.json"
            )
            # Event time: the simulated history ends at sim.end, so that is "now" for the
            # deadman timer (the wall clock would find every sensor silent since midnight).
            engine = AlertEngine(
                rules, store, CachedCatalog(metadata), delivery=delivery, clock=lambda: sim.end
            )
            stats = run_engine(engine, stream, metadata, until_idle_s=1.0)
            delivery.close()
            posts = receiver.bodies
        raised = store.history(start=sim.start, limit=10_000)
    finally:
        store.close()
        stream.close()
        metadata.close()
    firing = sum(b.get("status") == "firing" for b in posts)
    console.print(
        f"[bold]alerts[/bold] {len(rules)} rules from infra/alerts/ over {stats.scores:,} scores "
        f"and {stats.readings:,} readings: {stats.opened} alerts opened, {stats.resolved} "
        f"resolved; the webhook received {len(posts)} notifications ({firing} firing, "
        f"{len(posts) - firing} resolved: replayed history opens and closes most alerts "
        "within one batch, so receivers hear their end)"
    )
    table = Table(title="Alerts raised (newest first, at most 12)")
    for col in ("id", "rule", "sensor", "severity", "kind", "started", "state", "summary"):
        table.add_column(col)
    for a in raised[:12]:
        table.add_row(
            str(a.alert_id),
            a.rule,
            a.sensor_id,
            a.severity,
            a.kind,
            a.started_at.strftime("%m-%d %H:%M"),
            a.state,
            a.summary,
        )
    console.print(table)
    return raised, len(posts)


def print_episodes(onsets: list[Score], sim: Simulation, console: Console) -> None:
    labels = sim.labels
    table = Table(
        title=f"Faults the stream scorer found on the held-out day ({len(onsets)} episodes)"
    )
    for col in ("sensor", "flagged from", "kind called", "top contributions", "labelled fault"):
        table.add_column(col)
    for s in onsets[:15]:
        match = next(
            (
                lab
                for lab in labels
                if lab.sensor_id == s.sensor_id
                and lab.start - timedelta(minutes=5) <= s.ts <= lab.end + timedelta(minutes=30)
            ),
            None,
        )
        contributions = ", ".join(f"{k} {v:.0%}" for k, v in s.contributions.items())
        table.add_row(
            s.sensor_id,
            s.ts.strftime("%m-%d %H:%M"),
            s.kind,
            contributions,
            f"{match.kind} on {match.channel}" if match else "[dim]none (false alarm)[/dim]",
        )
    console.print(table)


def _serve_and_ask(
    settings: Settings,
    sim: Simulation,
    api_key: str,
    late_rows: list[dict[str, Any]],
    console: Console,
) -> list[dict[str, Any]]:
    import httpx

    from sensorguard.serve_thread import free_port
    from sensorguard.serving import process

    port = free_port()
    log_path = settings.data_dir / "bentoml-demo.log"
    base, headers = f"http://127.0.0.1:{port}", {"X-API-Key": api_key}
    proc = process.start_bentoml(
        process.settings_env(settings, serve_port=str(port)), "127.0.0.1", port, log_path
    )
    try:
        ready_s = process.wait_ready(proc, base, headers, log_path)
        console.print(
            f"[bold]live 3/3 served[/bold] `bentoml serve` ready in {ready_s:.0f} s on {base} "
            "(every route needs a key)"
        )
        models = httpx.get(f"{base}/models", headers=headers, timeout=10).json()
        ask = _questions(sim, late_rows)
        answer = httpx.post(f"{base}/score", json={"readings": ask}, headers=headers, timeout=30)
        answer.raise_for_status()
        scores: list[dict[str, Any]] = answer.json()["scores"]
    finally:
        process.stop(proc)
    served = ", ".join(f"{m['group']} v{m['version']} ({m['detector']})" for m in models)
    console.print(f"GET /models: {served}")
    table = Table(title="POST /score answers")
    for col in ("sensor", "ts", "score", "flag", "kind", "model", "history rows"):
        table.add_column(col)
    for s in scores:
        table.add_row(
            s["sensor_id"],
            s["ts"][5:16],
            f"{s['score']:.2f}",
            "yes" if s["flag"] else "",
            s["kind"],
            f"{s['group']} v{s['model_version']}",
            str(s["history_rows"]),
        )
    console.print(table)
    return scores


def _questions(sim: Simulation, late_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The late sensor's first reading, and for two sensors a normal reading and one inside
    a labelled fault of the held-out day."""
    rows = [late_rows[0]]
    held_out = sim.end - timedelta(days=1)
    raw = [r for r in sim.iter_raw() if str(r["ts"]) >= held_out.isoformat()[:19]]
    for label in [lab for lab in sim.labels if lab.start >= held_out][:2]:
        inside = [
            r
            for r in raw
            if r["sensor_id"] == label.sensor_id
            and label.start.isoformat()[:19] <= str(r["ts"]) <= label.end.isoformat()[:19]
        ]
        before = [
            r
            for r in raw
            if r["sensor_id"] == label.sensor_id and str(r["ts"]) < label.start.isoformat()[:19]
        ]
        rows.extend(before[-1:] + inside[len(inside) // 2 : len(inside) // 2 + 1])
    return rows
