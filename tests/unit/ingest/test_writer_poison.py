"""The store writer: a record the store refuses for good is dead-lettered; outages are retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sensorguard.errors import BackendUnavailable
from sensorguard.ingest.writer import run_writer
from sensorguard.schemas import Reading, utc_now
from sensorguard.store import TimeSeriesStore, open_store
from sensorguard.stream import SENSOR_DATA, SENSOR_DATA_DLQ, Stream, open_stream
from sensorguard.stream.codec import decode_dead_letter, encode_reading


class Picky:
    """The embedded store, except that it refuses any batch holding sensor `poison-1`
    (as Cassandra refuses a value it cannot store) and is down for its first `outages` calls."""

    def __init__(self, inner: TimeSeriesStore, outages: int = 0) -> None:
        self.inner = inner
        self.outages = outages
        self.calls = 0

    def write_readings(self, readings: Sequence[Reading]) -> int:
        self.calls += 1
        if self.calls <= self.outages:
            raise BackendUnavailable("store is down")
        if any(r.sensor_id == "poison-1" for r in readings):
            raise ValueError("value out of the column's range")
        return self.inner.write_readings(readings)


def publish(stream: Stream, ids: list[str]) -> None:
    start = utc_now() - timedelta(hours=1)
    readings = [
        Reading(sensor_id=sid, ts=start + timedelta(seconds=i), channels={"temperature": 20.0})
        for i, sid in enumerate(ids)
    ]
    stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in readings])


def test_a_poison_record_is_dead_lettered_and_the_rest_written(tmp_path: Path) -> None:
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=1)
    publish(stream, ["th-1", "th-2", "poison-1", "th-3", "th-4"])
    store = Picky(open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    stats = run_writer(stream, store, until_idle_s=0.3)  # type: ignore[arg-type]
    assert (stats.written, stats.dead_lettered) == (4, 1)
    letters = [
        decode_dead_letter(r.value)
        for r in stream.consumer([SENSOR_DATA_DLQ], "t").poll(10, timeout_s=0.3)
    ]
    assert [lt.sensor_id for lt in letters] == ["poison-1"]
    assert "ValueError" in letters[0].reason and "column's range" in letters[0].reason
    # The offsets moved on: a restarted writer does not meet the poison record again.
    again = run_writer(stream, store, until_idle_s=0.3)  # type: ignore[arg-type]
    assert again.polled == 0


def test_an_outage_is_still_retried_not_dead_lettered(tmp_path: Path) -> None:
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=1)
    publish(stream, ["th-1", "th-2"])
    store = Picky(open_store(f"sqlite:///{tmp_path / 'store.db'}"), outages=2)
    stats = run_writer(stream, store, until_idle_s=0.3, max_backoff_s=0.5)  # type: ignore[arg-type]
    assert (stats.written, stats.dead_lettered, stats.retries) == (2, 0, 2)


class CommitRefusedOnce:
    """The embedded log, except that its consumers' first commit fails (a rebalance)."""

    def __init__(self, inner: Stream) -> None:
        self.inner = inner
        self.refused = 0

    def consumer(self, topics: Sequence[str], group: str) -> Any:
        inner, owner = self.inner.consumer(topics, group), self

        class Consumer:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def commit(self, records: Sequence[Any]) -> None:
                if not owner.refused:
                    owner.refused += 1
                    raise BackendUnavailable("commit refused: the group is rebalancing")
                inner.commit(records)

        return Consumer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_refused_commit_does_not_stop_the_writer(tmp_path: Path) -> None:
    """Written, then the commit refused: the writer goes on (the batch replays, upserted)."""
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=1)
    publish(stream, ["th-1", "th-2"])
    flaky = CommitRefusedOnce(stream)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    stats = run_writer(flaky, store, batch_size=1, until_idle_s=0.3)  # type: ignore[arg-type]
    assert (stats.written, stats.commit_failures) == (2, 1)
    # The refused batch's offset was not committed: a new writer meets it again, and the
    # store still holds one row per reading.
    again = run_writer(stream, store, until_idle_s=0.3)
    assert again.polled <= 1
    start = utc_now() - timedelta(hours=2)
    assert len(store.read_readings(["th-1", "th-2"], start, utc_now())) == 2
