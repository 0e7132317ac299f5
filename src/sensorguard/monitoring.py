"""How a long-running process reports on itself: its /metrics port, stream gauges, system-metrics.

Every long-running loop (store writer, stream scorer, alert engine, MQTT bridge, HTTP ingest)
uses the same three pieces: :func:`serve_metrics` puts its Prometheus registry on a port
behind an API key, and one :class:`SystemMetricsPublisher` per process both refreshes the
consumer-lag and dead-letter gauges and, every ``interval_s``, publishes a
:class:`SystemMetrics` record to the `system-metrics` topic keyed by the process name, so
stream consumers and reports read system health from the stream too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable, NotFound
from sensorguard.stream import SENSOR_DATA_DLQ, SYSTEM_METRICS, Stream

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sensorguard.drift.records import DriftCheck
    from sensorguard.serving.champions import Champions
    from sensorguard.settings import Settings

log = logging.getLogger(__name__)

# A consumer group that never commits: its lag on a topic is everything the topic retains.
DLQ_SIZE_GROUP = "sensorguard-dlq-size"

Counts = Mapping[str, float]
"""A process's cumulative counters by name (its stats dataclass as a mapping)."""


def metrics_app(title: str, settings: Settings) -> FastAPI:
    """The HTTP surface of a process that has no other: /metrics and /healthz, behind a key."""
    from sensorguard.http_app import guarded_app, observe_only

    return guarded_app(
        f"SensorGuard {title}",
        f"Prometheus metrics and liveness of the {title} process.",
        settings,
        observe_only,
    )


@contextmanager
def serve_metrics(
    title: str,
    settings: Settings,
    port: int,
    *,
    announce: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Serve this process's metrics on `settings.metrics_host`:`port` while the block runs (0:
    not at all); yields the base URL ("" when not served)."""
    from sensorguard.serve_thread import serve_in_thread

    server = (
        serve_in_thread(metrics_app(title, settings), port=port, host=settings.metrics_host)
        if port
        else nullcontext("")
    )
    with server as url:
        if url and announce is not None:
            announce(f"metrics on {url}/metrics (API key with 'observe')")
        yield url


class SystemMetrics(BaseModel):
    """One process's health over the last interval, as published to `system-metrics`."""

    model_config = ConfigDict(frozen=True)

    process: str = Field(description="the process's name, also the record's key")
    host: str
    pid: int
    at: AwareDatetime
    interval_s: float = Field(description="seconds the rates and errors cover")
    rates: dict[str, float] = Field(description="per second over the interval, by counter")
    lag: dict[str, int] = Field(
        default_factory=dict, description="records the process's group has not committed, by topic"
    )
    latency_p50_s: float | None = None
    latency_p99_s: float | None = None
    errors: dict[str, int] = Field(
        default_factory=dict, description="errors in the interval, by kind"
    )
    model_version: dict[str, str] = Field(
        default_factory=dict, description="group -> version served (scoring processes)"
    )


def encode_system_metrics(record: SystemMetrics) -> bytes:
    return record.model_dump_json().encode()


def decode_system_metrics(value: bytes) -> SystemMetrics:
    return SystemMetrics.model_validate_json(value)


class SystemMetricsPublisher:
    """Called once per loop round: heartbeat, lag gauges when due, a summary record when due.

    Counters named in `error_fields` are reported as counts in the interval under `errors`,
    the others as rates under `rates`. A failed publish is logged and skipped (the next one
    covers the longer interval): reporting must never stop the loop it reports on.
    """

    def __init__(
        self,
        stream: Stream,
        process: str,
        *,
        interval_s: float = 30.0,
        lag_group: str | None = None,
        lag_topics: Sequence[str] = (),
        error_fields: Sequence[str] = (),
        dead_letters: bool = False,
        lag_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from sensorguard.schemas import utc_now

        self.stream = stream
        self.process = process
        self.interval_s = interval_s
        self.lag_group = lag_group
        self.lag_topics = tuple(lag_topics)
        self.error_fields = frozenset(error_fields)
        self.dead_letters = dead_letters
        self.lag_every_s = min(lag_every_s, interval_s)
        self._clock = clock
        self._now = now or utc_now
        self._host = socket.gethostname()
        self._last_at = clock()
        self._last_lag_at = -float("inf")
        self._last_counts: dict[str, float] = {}
        self._latencies: deque[float] = deque(maxlen=10_000)
        self._lag: dict[str, int] = {}
        self.published = 0

    def observe_latency(self, seconds: float) -> None:
        """One call's duration (a batch scored, a write), for the next record's p50/p99."""
        self._latencies.append(seconds)

    def tick(
        self, counts: Counts, *, model_version: Mapping[str, str] | None = None
    ) -> SystemMetrics | None:
        """The loop went round; returns the record if one was published now."""
        now = self._clock()
        metrics.LOOP_HEARTBEAT.labels(self.process).set_to_current_time()
        if now - self._last_lag_at >= self.lag_every_s:
            self._last_lag_at = now
            self.refresh_gauges()
        if now - self._last_at < self.interval_s:
            return None
        return self.publish(counts, model_version=model_version)

    def refresh_gauges(self) -> None:
        """Consumer lag of this process's group (and the dead-letter topic's size) now."""
        try:
            if self.lag_group is not None and self.lag_topics:
                per_topic: dict[str, int] = dict.fromkeys(self.lag_topics, 0)
                for (topic, _), n in self.stream.lag(self.lag_group, self.lag_topics).items():
                    per_topic[topic] = per_topic.get(topic, 0) + n
                for topic, n in per_topic.items():
                    metrics.CONSUMER_LAG.labels(self.lag_group, topic).set(n)
                self._lag = per_topic
            if self.dead_letters:
                held = self.stream.lag(DLQ_SIZE_GROUP, [SENSOR_DATA_DLQ])
                metrics.DEAD_LETTER_RECORDS.set(sum(held.values()))
        except (BackendUnavailable, NotFound) as err:
            log.warning("%s: consumer lag not measured: %s", self.process, err)

    def publish(
        self, counts: Counts, *, model_version: Mapping[str, str] | None = None
    ) -> SystemMetrics | None:
        """Publish the record of the interval since the last one (None if the stream refused)."""
        now = self._clock()
        elapsed = max(now - self._last_at, 1e-9)
        deltas = {k: v - self._last_counts.get(k, 0) for k, v in counts.items()}
        latencies = sorted(self._latencies)
        record = SystemMetrics(
            process=self.process,
            host=self._host,
            pid=os.getpid(),
            at=self._now(),
            interval_s=elapsed,
            rates={k: d / elapsed for k, d in deltas.items() if k not in self.error_fields},
            lag=dict(self._lag),
            latency_p50_s=_quantile(latencies, 0.5),
            latency_p99_s=_quantile(latencies, 0.99),
            errors={k: int(d) for k, d in deltas.items() if k in self.error_fields},
            model_version=dict(model_version or {}),
        )
        try:
            self.stream.publish(SYSTEM_METRICS, [(self.process, encode_system_metrics(record))])
        except BackendUnavailable as err:
            log.warning("%s: system-metrics record not published: %s", self.process, err)
            return None
        self._last_at = now
        self._last_counts = dict(counts)
        self._latencies.clear()
        self.published += 1
        metrics.SYSTEM_METRICS_PUBLISHED.labels(self.process).inc()
        return record

    @contextmanager
    def in_background(self, sample: Callable[[], Counts]) -> Iterator[None]:
        """Tick from a thread of its own while the block runs, for a process whose work is
        not one loop (the HTTP front door): `sample` reads its counters."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(min(1.0, self.lag_every_s)):
                self.tick(sample())

        thread = threading.Thread(target=loop, name=f"system-metrics:{self.process}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5.0)


def publisher_for(
    stream: Stream,
    settings: Settings,
    process: str,
    *,
    lag_group: str | None = None,
    lag_topics: Sequence[str] = (),
    error_fields: Sequence[str] = (),
    dead_letters: bool = False,
) -> SystemMetricsPublisher:
    """The configured publisher of one process (interval from SENSORGUARD_SYSTEM_METRICS_INTERVAL_S)."""
    return SystemMetricsPublisher(
        stream,
        process,
        interval_s=settings.system_metrics_interval_s,
        lag_group=lag_group,
        lag_topics=lag_topics,
        error_fields=error_fields,
        dead_letters=dead_letters,
    )


def counter_totals(names: Mapping[str, str], source: str | None = None) -> dict[str, float]:
    """Cumulative values of Prometheus counters in this process's registry, summed over their
    labels (only the series with `source=` this, when given). `names` maps a key to a
    counter's name without its `_total` suffix (as prometheus_client names the family)."""
    from prometheus_client import REGISTRY

    wanted = {f"{name}_total": key for key, name in names.items()}
    totals = dict.fromkeys(names, 0.0)
    for family in REGISTRY.collect():
        for sample in family.samples:
            key = wanted.get(sample.name)
            if key is not None and (source is None or sample.labels.get("source") == source):
                totals[key] += sample.value
    return totals


def ingest_counts(source: str) -> Callable[[], dict[str, float]]:
    """The counters of one ingest front door (http, mqtt), for its system-metrics record."""
    names = {
        "received": "sensorguard_readings_received",
        "accepted": "sensorguard_readings_accepted",
        "rejected": "sensorguard_readings_rejected",
        "dead_lettered": "sensorguard_dead_letters",
    }
    return lambda: counter_totals(names, source)


def served_versions(champions: Champions) -> dict[str, str]:
    """group -> version of what `champions` serve now."""
    return {group: model.version for group, model in champions.models().items()}


def record_drift(checks: Sequence[DriftCheck]) -> None:
    """Drift gauges of the groups these checks judged (skipped checks leave theirs as they were)."""
    for check in checks:
        if check.status == "skipped":
            continue
        metrics.DRIFT_DETECTED.labels(check.group).set(1 if check.drifted else 0)
        if check.drifted_share is not None:
            metrics.DRIFT_SHARE.labels(check.group).set(check.drifted_share)
        if check.score_psi is not None:
            metrics.DRIFT_SCORE_PSI.labels(check.group).set(check.score_psi)


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values (None without any)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]
