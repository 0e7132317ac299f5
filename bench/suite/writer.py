"""The store writer (Kafka `sensor-data` -> Cassandra `readings`) against execute_concurrent of
prepared inserts of the same rows into the same table, rounds interleaved."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from _harness import Row, row

if TYPE_CHECKING:
    from sensorguard.schemas import Reading
    from suite import Context

CONCURRENCY = 100  # requests in flight: the driver's sweet spot on one node (stack notes)


def simulated(sensors: int, days: float, seed: int = 7) -> list[Reading]:
    """Valid readings of a fleet ending now (so no retention or clock check refuses them)."""
    from sensorguard.simulate import SimulationConfig, simulate_fleet

    sim = simulate_fleet(
        SimulationConfig(sensors=sensors, sites=2, days=days, seed=seed, fault_rate=0)
    )
    return sorted(sim.iter_readings(), key=lambda r: (r.ts, r.sensor_id))


class FirstBatchClock:
    """Wraps a consumer: when its first non-empty poll returned and how many records it held,
    so a rate counts from there (group join and partition assignment are not the writer's)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first_at: float | None = None
        self.first_n = 0

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Any]:
        records = self.inner.poll(max_records, timeout_s)
        if records and self.first_at is None:
            self.first_at, self.first_n = time.perf_counter(), len(records)
        return list(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ClockedStream:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.clocks: list[FirstBatchClock] = []

    def consumer(self, topics: Sequence[str], group: str) -> FirstBatchClock:
        clock = FirstBatchClock(self.inner.consumer(topics, group))
        self.clocks.append(clock)
        return clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def writer_rate(stream: Any, store: Any, group: str, n: int, batch_size: int = 1000) -> float:
    """Readings/s of `run_writer` over the `n` records of `sensor-data`, fresh group."""
    from sensorguard.ingest.writer import run_writer

    clocked = ClockedStream(stream)
    stop = threading.Event()
    done: list[float] = []

    def on_batch(stats: Any) -> None:
        if stats.polled >= n and not done:
            done.append(time.perf_counter())
            stop.set()

    stats = run_writer(
        clocked, store, group=group, batch_size=batch_size, until_idle_s=20, stop=stop,
        on_batch=on_batch,
    )  # fmt: skip
    clock = clocked.clocks[0]
    if not done or clock.first_at is None or stats.written < n:
        raise RuntimeError(f"the writer wrote {stats.written} of {n} readings: {stats}")
    return (n - clock.first_n) / (done[0] - clock.first_at)


def concurrent_rate(store: Any, readings: Sequence[Reading]) -> float:
    """Rows/s of execute_concurrent of one prepared INSERT per row into `readings`."""
    from cassandra.concurrent import execute_concurrent

    from sensorguard.store.cassandra import _MAX_TTL_S

    stmt = store.session.prepare(
        f"INSERT INTO {store.keyspace}.readings (sensor_id, day, ts, channels, seq) "
        "VALUES (?, ?, ?, ?, ?) USING TTL ?"
    )
    params = [
        (r.sensor_id, r.ts.date(), r.ts, dict(r.channels), r.seq, _MAX_TTL_S // 20)
        for r in readings
    ]
    started = time.perf_counter()
    results = execute_concurrent(
        store.session, [(stmt, p) for p in params], concurrency=CONCURRENCY,
        raise_on_first_error=True, results_generator=True,
    )  # fmt: skip
    for _ in results:
        pass
    return len(params) / (time.perf_counter() - started)


def publish_all(stream: Any, readings: Sequence[Reading], batch: int = 5000) -> None:
    from sensorguard.stream import SENSOR_DATA
    from sensorguard.stream.codec import encode_reading

    messages = [(r.sensor_id, encode_reading(r)) for r in readings]
    for first in range(0, len(messages), batch):
        stream.publish(SENSOR_DATA, messages[first : first + batch])


def run(ctx: Context) -> list[Row]:
    from sensorguard.settings import Settings
    from sensorguard.store.cassandra import driver_status
    from sensorguard.wiring import open_configured_store, open_configured_stream
    from suite.backends import cassandra_keyspace, kafka_namespace

    readings = simulated(*ctx.pick((8, 1.0), (24, 1.5)))  # 11,520 / 51,840 readings
    n, rounds = len(readings), ctx.pick(2, 3)
    status = driver_status()
    ours: list[float] = []
    base: list[float] = []
    with kafka_namespace() as kafka_url, cassandra_keyspace() as cassandra_url:
        settings = Settings(data_dir=ctx.work_dir / "writer", stream_url=kafka_url,
                            store_url=cassandra_url)  # fmt: skip
        stream, store = open_configured_stream(settings), open_configured_store(settings)
        try:
            publish_all(stream, readings)
            ctx.progress(f"published {n:,} readings to {kafka_url}")
            for i in range(rounds):
                base.append(concurrent_rate(store, readings))
                ours.append(writer_rate(stream, store, f"bench-writer-{i}", n))
                ctx.progress(
                    f"round {i + 1}/{rounds}: writer {ours[-1]:,.0f}/s, "
                    f"execute_concurrent {base[-1]:,.0f}/s"
                )
            if ctx.profile_dir is not None:
                from suite.profiling import profiled

                with profiled(ctx, "writer", "run_writer, Kafka -> Cassandra"):
                    writer_rate(stream, store, "bench-writer-profile", n)
        finally:
            store.close()
            stream.close()
    o, b = max(ours), max(base)
    driver = (
        f"cassandra-driver {status['version']}, reactor {status['reactor']} "
        f"(libev {'yes' if status['libev'] else 'NO'}), Cython {'yes' if status['cython'] else 'NO'}"
    )
    confirmed = status["libev"] and status["cython"] and status["reactor"] == "LibevConnection"
    note = (
        f"{n:,} readings published once to a fresh namespace; each round the baseline (one "
        f"prepared INSERT per row, execute_concurrent, {CONCURRENCY} in flight) then "
        "`run_writer` with a fresh consumer group (poll, decode, CassandraStore.write_readings, "
        f"commit), counted from its first batch; best of {rounds} rounds each; {driver}"
    )
    return [
        row(
            "store writer Kafka -> Cassandra vs execute_concurrent prepared inserts",
            "readings/s", o, b, ">= 0.7x baseline", o >= 0.7 * b, note=note,
            why="see the writer's profile; per-row decode (pydantic) and TTL computation are "
            "the writer's own costs on top of the inserts",
        ),
        row(
            "baseline execute_concurrent prepared inserts, libev + Cython driver", "rows/s", b,
            goal=">= 5,000 rows/s, libev + Cython", met=b >= 5000 and bool(confirmed),
            why=f"{driver}: the baseline is below 5k rows/s or the driver lacks its C parts",
        ),
    ]  # fmt: skip
