"""The stream scorer: `sensor-data` in, verdicts to `anomaly-scores` and the store's scores.

At least once, idempotent: a polled batch is scored, published and written, and only then are
its offsets committed. A crash in between replays the batch; the replayed verdicts overwrite
the same (sensor_id, ts) rows. Members of one consumer group split the partitions; when the
assignment changes, a member forgets the sensors it may have lost or gained, and warms them
again from the store's readings when they next arrive, so a verdict does not depend on which
member gave it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable
from sensorguard.ingest.pipeline import retry_until_stopped
from sensorguard.monitoring import SystemMetricsPublisher, served_versions
from sensorguard.schemas import Reading, Score
from sensorguard.serving.scorer import LiveScorer, Scored, count_scores
from sensorguard.store import TimeSeriesStore
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA, Record, Stream, poll_batches
from sensorguard.stream.codec import decode_reading, encode_score

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sensorguard.settings import Settings

log = logging.getLogger(__name__)

SCORER_GROUP = "stream-scorer"
SURFACE = "stream"
# What the scorer's system-metrics record reports as errors rather than rates.
ERROR_FIELDS = ("undecodable", "retries", "commit_failures")


@dataclass
class ScorerStats:
    polled: int = 0
    scored: int = 0
    flagged: int = 0
    unscored: int = 0
    undecodable: int = 0
    shadow_scored: int = 0
    retries: int = 0
    commit_failures: int = 0
    rebalances: int = 0


def run_stream_scorer(
    stream: Stream,
    store: TimeSeriesStore,
    scorer: LiveScorer,
    *,
    shadow: LiveScorer | None = None,
    group: str = SCORER_GROUP,
    batch_size: int = 2000,
    until_idle_s: float | None = None,
    stop: threading.Event | None = None,
    max_backoff_s: float = 30.0,
    on_batch: Callable[[ScorerStats, list[Scored]], None] | None = None,
    publisher: SystemMetricsPublisher | None = None,
) -> ScorerStats:
    """Score the stream until `stop` is set (or `until_idle_s` passes without a record);
    `publisher` reports on the loop every round."""
    stop = stop or threading.Event()
    stats = ScorerStats()
    consumer = stream.consumer([SENSOR_DATA], group)
    partition_of: dict[str, tuple[str, int]] = {}
    assigned = consumer.assignment()
    try:
        for records in poll_batches(
            consumer, stop=stop, batch_size=batch_size, until_idle_s=until_idle_s
        ):
            now_assigned = consumer.assignment()
            if now_assigned != assigned:
                moved = now_assigned ^ assigned
                stale = [s for s, tp in partition_of.items() if tp in moved]
                for models in (scorer, shadow):
                    if models is not None:
                        models.forget(stale)
                stats.rebalances += 1
                log.info(
                    "assignment changed (%d partitions now); %d sensors re-warm from the store",
                    len(now_assigned),
                    len(stale),
                )
                assigned = now_assigned
            if publisher is not None:
                publisher.tick(asdict(stats), model_version=served_versions(scorer.models))
            if not records:
                continue
            stats.polled += len(records)
            started = time.perf_counter()
            readings = _decode(records, stats)
            for rec in records:
                if rec.key is not None:
                    partition_of[rec.key] = (rec.topic, rec.partition)
            scored, unscored = scorer.score(readings)
            scores = [s.score for s in scored]
            if not _deliver(stream, store, scores, stats, stop, max_backoff_s):
                break  # stopped while a backend was down: leave the offsets uncommitted
            if shadow is not None:
                shadowed = [s.score for s in shadow.score(readings)[0]]
                if not _retrying(
                    partial(_timed_write, store, shadowed, shadow=True),
                    "shadow score write",
                    stats,
                    stop,
                    max_backoff_s,
                ):
                    break
                stats.shadow_scored += len(shadowed)
            try:
                consumer.commit(records)
            except BackendUnavailable as err:
                # Typically a rebalance took the partitions away: the new owner scores the batch
                # again (idempotently). Forget everything, since which sensors are ours is moot.
                stats.commit_failures += 1
                metrics.STREAM_SCORER_COMMIT_FAILURES.inc()
                log.warning("offset commit refused, rejoining and going on: %s", err)
                for models in (scorer, shadow):
                    if models is not None:
                        models.forget(list(models.contexts))
            _count(stats, scored, len(unscored), time.perf_counter() - started)
            if publisher is not None:
                publisher.observe_latency(time.perf_counter() - started)
            if on_batch:
                on_batch(stats, scored)
    finally:
        consumer.close()
    return stats


def scorer_metrics_app(settings: Settings) -> FastAPI:
    """The stream scorer's HTTP surface: /metrics and /healthz, behind an API key."""
    from sensorguard.monitoring import metrics_app

    return metrics_app("stream scorer", settings)


def _timed_write(store: TimeSeriesStore, scores: list[Score], *, shadow: bool = False) -> None:
    with metrics.STORE_WRITE_SECONDS.labels("shadow_scores" if shadow else "scores").time():
        store.write_scores(scores, shadow=shadow)


def _decode(records: Sequence[Record], stats: ScorerStats) -> list[Reading]:
    readings = []
    for rec in records:
        try:
            readings.append(decode_reading(rec.value))
        except ValidationError:
            # The store writer dead-letters foreign records with the reason; not twice.
            stats.undecodable += 1
    return readings


def _deliver(
    stream: Stream,
    store: TimeSeriesStore,
    scores: list[Score],
    stats: ScorerStats,
    stop: threading.Event,
    max_backoff_s: float,
) -> bool:
    if not scores:
        return True
    messages = [(s.sensor_id, encode_score(s)) for s in scores]
    return _retrying(
        lambda: stream.publish(ANOMALY_SCORES, messages),
        "publish to anomaly-scores",
        stats,
        stop,
        max_backoff_s,
    ) and _retrying(lambda: _timed_write(store, scores), "score write", stats, stop, max_backoff_s)


def _retrying(
    step: Callable[[], object],
    what: str,
    stats: ScorerStats,
    stop: threading.Event,
    max_backoff_s: float,
) -> bool:
    """True once ``step`` succeeded; False if stopped while it was still failing."""

    def retried() -> None:
        stats.retries += 1
        metrics.STREAM_SCORER_RETRIES.inc()

    return retry_until_stopped(step, what=what, stop=stop, cap_s=max_backoff_s, on_retry=retried)


def _count(stats: ScorerStats, scored: list[Scored], unscored: int, seconds: float) -> None:
    stats.scored += len(scored)
    stats.unscored += unscored
    metrics.SCORE_SECONDS.labels(SURFACE).observe(seconds)
    if unscored:
        metrics.UNSCORED.labels(SURFACE).inc(unscored)
    count_scores(SURFACE, scored)
    stats.flagged += sum(s.score.flag for s in scored)
