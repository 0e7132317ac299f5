"""Stream scorer throughput against a raw consumer of the same records, with per-phase timing."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sensorguard.schemas import Reading, Score
from sensorguard.serving.scorer import LiveScorer, Scored, Unscored
from sensorguard.stream import ALL_TOPICS, SENSOR_DATA, Message, Record, Stream, StreamConsumer

if TYPE_CHECKING:
    from trained_platform import Platform, Progress

    from sensorguard.serving.stream import ScorerStats
    from sensorguard.settings import Settings
    from sensorguard.store import TimeSeriesStore

PUBLISH_BATCH = 1000
HISTORY = "history reads (in score)"  # a phase inside "score"


class PhaseClock:
    """Seconds spent in each named phase (the wrappers below add to it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started


class TimedConsumer:
    def __init__(self, inner: StreamConsumer, clock: PhaseClock) -> None:
        self.inner, self.clock = inner, clock

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        with self.clock("poll"):
            return self.inner.poll(max_records, timeout_s)

    def commit(self, records: Sequence[Record]) -> None:
        with self.clock("commit"):
            self.inner.commit(records)

    def assignment(self) -> frozenset[tuple[str, int]]:
        return self.inner.assignment()

    def close(self) -> None:
        self.inner.close()


class TimedStream:
    """A stream whose publishes and consumers' polls and commits are timed."""

    def __init__(self, inner: Stream, clock: PhaseClock) -> None:
        self.inner, self.clock = inner, clock

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        self.inner.ensure_topics(topics)

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        with self.clock("publish anomaly-scores"):
            self.inner.publish(topic, messages)

    def consumer(self, topics: Sequence[str], group: str) -> StreamConsumer:
        return TimedConsumer(self.inner.consumer(topics, group), self.clock)

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        return self.inner.lag(group, topics)

    def close(self) -> None:
        self.inner.close()


class TimedStore:
    """A store whose score writes and history reads (the scorer's warm-up) are timed."""

    def __init__(self, inner: TimeSeriesStore, clock: PhaseClock) -> None:
        self.inner, self.clock = inner, clock

    def migrate(self) -> None:
        self.inner.migrate()

    def write_readings(self, readings: Sequence[Reading]) -> int:
        return self.inner.write_readings(readings)

    def write_scores(self, scores: Sequence[Score], *, shadow: bool = False) -> int:
        with self.clock("store write_scores"):
            return self.inner.write_scores(scores, shadow=shadow)

    def read_readings(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[Reading]:
        with self.clock(HISTORY):
            return self.inner.read_readings(sensor_ids, start, end)

    def read_latest(
        self, sensor_id: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        with self.clock(HISTORY):
            return self.inner.read_latest(sensor_id, start, end, limit)

    def read_scores(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime, *, shadow: bool = False
    ) -> list[Score]:
        return self.inner.read_scores(sensor_ids, start, end, shadow=shadow)

    def close(self) -> None:
        self.inner.close()


class TimedScorer(LiveScorer):
    """The same scorer (its state copied over), timing each score() call."""

    def __init__(self, base: LiveScorer, clock: PhaseClock) -> None:  # no super(): a copy
        self.__dict__.update(base.__dict__)
        self.clock = clock

    def score(self, readings: Sequence[Reading]) -> tuple[list[Scored], list[Unscored]]:
        with self.clock("score"):
            return super().score(readings)


@dataclass
class StreamResult:
    readings: int
    batch_size: int
    runs: int  # of the scorer; the raw consumer runs at least 5 times
    publish_per_s: float
    raw_consume_per_s: float  # baseline: poll + decode_reading, fresh group, no scoring
    scorer_per_s: float  # run_stream_scorer end to end (best run)
    scoring_only_per_s: float  # LiveScorer.score on the decoded batches, history from memory
    phases: dict[str, float] = field(default_factory=dict)  # seconds, best scorer run
    scorer_seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)


def measure_stream(
    platform: Platform, work_dir: Path, *, runs: int, batch_size: int, progress: Progress
) -> StreamResult:
    """Publish the live day to a fresh `sensor-data`, then consume it `runs` times each way."""
    from sensorguard.stream.codec import encode_reading
    from sensorguard.wiring import open_configured_store, open_configured_stream

    settings = platform.settings.model_copy(
        update={"stream_url": f"sqlite:///{work_dir / 'bench-stream.db'}"}
    )
    live = platform.live_readings()
    n = len(live)
    stream = open_configured_stream(settings)
    messages = [(r.sensor_id, encode_reading(r)) for r in live]
    started = time.perf_counter()
    for first in range(0, n, PUBLISH_BATCH):
        stream.publish(SENSOR_DATA, messages[first : first + PUBLISH_BATCH])
    publish_s = time.perf_counter() - started
    progress(f"published {n:,} readings to {SENSOR_DATA} ({n / publish_s:,.0f}/s)")

    raw_s: list[float] = []
    batches: list[list[Reading]] = []
    raw_runs = max(5, runs)  # a tenth of a second each: more runs to find an undisturbed one
    for run in range(raw_runs):
        seconds, batches = raw_consume(stream, f"bench-raw-{run}", n, batch_size)
        raw_s.append(seconds)
    progress(f"raw consume (poll + decode), best of {raw_runs}: {n / min(raw_s):,.0f} readings/s")

    store = open_configured_store(settings)
    try:
        scoring_only = scoring_only_rate(platform, store, batches, runs)
        progress(
            f"LiveScorer.score only (history from memory), best of {runs}: "
            f"{scoring_only:,.0f} readings/s"
        )
        best: tuple[float, PhaseClock, ScorerStats] | None = None
        for run in range(runs):
            seconds, clock, stats = scorer_run(
                settings, stream, store, f"bench-scorer-{run}", n, batch_size
            )
            progress(f"run_stream_scorer, run {run + 1}/{runs}: {n / seconds:,.0f} readings/s")
            if best is None or seconds < best[0]:
                best = (seconds, clock, stats)
    finally:
        store.close()
        stream.close()
    assert best is not None  # runs >= 1
    seconds, clock, stats = best
    if stats.scored != n or stats.unscored:
        raise RuntimeError(f"the stream scorer scored {stats.scored} of {n} readings: {stats}")
    phases = dict(clock.seconds)
    phases["decode and the rest"] = seconds - sum(v for k, v in phases.items() if k != HISTORY)
    return StreamResult(
        readings=n,
        batch_size=batch_size,
        runs=runs,
        publish_per_s=n / publish_s,
        raw_consume_per_s=n / min(raw_s),
        scorer_per_s=n / seconds,
        scoring_only_per_s=scoring_only,
        phases=phases,
        scorer_seconds=seconds,
        stats={k: int(v) for k, v in vars(stats).items()},
    )


def raw_consume(
    stream: Stream, group: str, n: int, batch_size: int
) -> tuple[float, list[list[Reading]]]:
    """Seconds to poll and decode `n` records with a fresh group; the decoded batches."""
    from sensorguard.stream.codec import decode_reading

    batches: list[list[Reading]] = []
    seen = 0
    started = time.perf_counter()
    consumer = stream.consumer([SENSOR_DATA], group)
    while seen < n:
        records = consumer.poll(batch_size, timeout_s=5.0)
        if not records:
            raise RuntimeError(f"{SENSOR_DATA} ran dry after {seen} of {n} records")
        batches.append([decode_reading(rec.value) for rec in records])
        seen += len(records)
    seconds = time.perf_counter() - started
    consumer.close()
    return seconds, batches


def scorer_run(
    settings: Settings,
    stream: Stream,
    store: TimeSeriesStore,
    group: str,
    n: int,
    batch_size: int,
) -> tuple[float, PhaseClock, ScorerStats]:
    """One `run_stream_scorer` over the `n` records with a fresh group and a fresh scorer; the
    clock stops at the batch that completes them (not after the idle wait that ends the loop)."""
    from sensorguard.serving.scorer import build_live_scorer
    from sensorguard.serving.stream import run_stream_scorer

    clock = PhaseClock()
    timed_store = TimedStore(store, clock)
    scorer = TimedScorer(
        build_live_scorer(settings, timed_store, stateful=True, surface="stream"), clock
    )
    scorer.models.refresh()
    stop = threading.Event()
    done: list[float] = []

    def on_batch(stats: ScorerStats, _: list[Scored]) -> None:
        if stats.polled >= n and not done:
            done.append(time.perf_counter())
            stop.set()

    started = time.perf_counter()
    stats = run_stream_scorer(
        TimedStream(stream, clock),
        timed_store,
        scorer,
        group=group,
        batch_size=batch_size,
        until_idle_s=10.0,
        stop=stop,
        on_batch=on_batch,
    )
    if not done:
        raise RuntimeError(f"the stream scorer stopped after {stats.polled} of {n} records")
    return done[0] - started, clock, stats


def scoring_only_rate(
    platform: Platform, store: TimeSeriesStore, batches: list[list[Reading]], runs: int
) -> float:
    """Readings/s of a stateful LiveScorer over the decoded batches, no I/O: a first pass
    fills a cache of the history reads; the scorer, its state forgotten each time, then
    replays the batches against it `runs` times (the best counts)."""
    from sensorguard.serving.scorer import build_live_scorer, store_history

    from_store = store_history(store)
    cache: dict[tuple[str, datetime, datetime, int | None], list[Reading]] = {}

    def cached(sensor_id: str, start: datetime, end: datetime, limit: int | None) -> list[Reading]:
        key = (sensor_id, start, end, limit)
        if key not in cache:
            cache[key] = list(from_store(sensor_id, start, end, limit))
        return cache[key]

    scorer = build_live_scorer(platform.settings, store, stateful=True, surface="stream")
    scorer.history = cached
    scorer.models.refresh()
    for batch in batches:
        scorer.score(batch)
    best = float("inf")
    for _ in range(runs):
        scorer.forget(list(scorer.contexts))  # as new: the pass warms every sensor again
        started = time.perf_counter()
        for batch in batches:
            scorer.score(batch)
        best = min(best, time.perf_counter() - started)
    return sum(map(len, batches)) / best
