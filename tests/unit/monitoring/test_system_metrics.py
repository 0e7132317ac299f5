"""The system-metrics record: what a publisher reports, when, and a real loop publishing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensorguard.ingest.writer import run_writer
from sensorguard.monitoring import SystemMetricsPublisher, decode_system_metrics
from sensorguard.schemas import Reading
from sensorguard.store import open_store
from sensorguard.stream import SENSOR_DATA, SYSTEM_METRICS, Record, Stream, open_stream
from sensorguard.stream.codec import encode_reading


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def read_all(stream: Stream, topic: str) -> list[Record]:
    consumer = stream.consumer([topic], "reader")
    try:
        out: list[Record] = []
        while batch := consumer.poll(500, timeout_s=0.2):
            out += batch
        return out
    finally:
        consumer.close()


def test_a_record_per_interval_with_rates_errors_latency_and_lag(tmp_path: Path) -> None:
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=2)
    stream.publish(SENSOR_DATA, [(f"th-{i}", b"{}") for i in range(5)])
    clock = Clock()
    publisher = SystemMetricsPublisher(
        stream,
        "store-writer",
        interval_s=10,
        lag_group="store-writer",
        lag_topics=[SENSOR_DATA],
        error_fields=["retries"],
        clock=clock,
    )
    assert publisher.tick({"written": 0, "retries": 0}) is None  # not due yet
    clock.t += 10
    for seconds in (0.01, 0.02, 0.03, 0.5):
        publisher.observe_latency(seconds)
    record = publisher.tick({"written": 200, "retries": 3}, model_version={"climate": "4"})
    assert record is not None
    assert record.rates == {"written": 20.0}
    assert record.errors == {"retries": 3}
    assert record.lag == {SENSOR_DATA: 5}  # the group never committed
    assert (record.latency_p50_s, record.latency_p99_s) == (0.02, 0.5)
    assert record.model_version == {"climate": "4"}
    clock.t += 5
    assert publisher.tick({"written": 300, "retries": 3}) is None
    clock.t += 5
    second = publisher.tick({"written": 300, "retries": 3})
    assert second is not None
    assert second.rates == {"written": 10.0} and second.errors == {"retries": 0}
    assert second.latency_p50_s is None  # nothing observed in that interval
    (first, again) = read_all(stream, SYSTEM_METRICS)
    assert first.key == again.key == "store-writer"
    assert decode_system_metrics(first.value) == record
    stream.close()


def test_the_store_writer_publishes_its_record_while_it_runs(tmp_path: Path) -> None:
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=2)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    readings = [
        Reading(sensor_id="th-001", ts=start + timedelta(minutes=i), channels={"temperature": 21.0})
        for i in range(50)
    ]
    stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in readings])
    publisher = SystemMetricsPublisher(
        stream,
        "store-writer",
        interval_s=0.2,
        lag_group="store-writer",
        lag_topics=[SENSOR_DATA],
        error_fields=["retries", "dead_lettered"],
    )
    try:
        stats = run_writer(stream, store, until_idle_s=0.8, publisher=publisher)
    finally:
        store.close()
    assert stats.written == 50 and publisher.published >= 1
    records = [decode_system_metrics(r.value) for r in read_all(stream, SYSTEM_METRICS)]
    assert {r.process for r in records} == {"store-writer"}
    assert sum(r.rates["written"] * r.interval_s for r in records) <= 50 + 1e-6
    assert max(r.rates["written"] for r in records) > 0
    last = records[-1]
    assert last.pid > 0 and last.host and last.at.tzinfo is not None
    assert last.lag == {SENSOR_DATA: 0}  # everything written was committed
    assert set(last.errors) == {"retries", "dead_lettered"}
    stream.close()
