"""The embedded stream: a durable append-only log in SQLite with Kafka-like offsets.

Topics have partitions and a key picks the partition (so one sensor stays in order); consumer
groups keep committed offsets in the same file, so a restarted consumer resumes where it
committed. One member per group: unlike Kafka there is no rebalancing between processes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from pathlib import Path

from sensorguard.errors import BackendUnavailable, NotFound
from sensorguard.settings import sqlite_path
from sensorguard.stream.base import ALL_TOPICS, Message, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name       TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    topic     TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset    INTEGER NOT NULL,
    key       TEXT,
    value     BLOB NOT NULL,
    ts_ms     INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
"""

_POLL_INTERVAL_S = 0.05


def partition_for(key: str | None, partitions: int, fallback: int) -> int:
    # crc32 is stable across processes, unlike hash(); keyless messages spread round-robin.
    if key is None:
        return fallback % partitions
    return zlib.crc32(key.encode()) % partitions


class LocalLog:
    """A Stream backed by one SQLite file (synchronous=FULL: an acknowledged append is on disk)."""

    def __init__(self, path: Path, *, partitions: int = 6) -> None:
        self.path = path
        self.default_partitions = partitions
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        self._round_robin = count()
        with self._tx() as conn:
            conn.executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str, *, partitions: int = 6) -> LocalLog:
        return cls(sqlite_path(url), partitions=partitions)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._conn:
                    yield self._conn
            except sqlite3.OperationalError as err:
                raise BackendUnavailable(f"stream log {self.path}: {err}") from err

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO topics VALUES (?, ?)",
                [(t, self.default_partitions) for t in topics],
            )

    def partitions(self, topic: str) -> int:
        with self._tx() as conn:
            row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            raise NotFound("topic", topic)
        return int(row[0])

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        n = self.partitions(topic)
        now_ms = int(time.time() * 1000)
        with self._tx() as conn:
            # BEGIN IMMEDIATE takes the write lock first, so two producers never pick one offset.
            conn.execute("BEGIN IMMEDIATE")
            next_offset: dict[int, int] = {}
            rows = []
            for key, value in messages:
                p = partition_for(key, n, next(self._round_robin))
                if p not in next_offset:
                    (last,) = conn.execute(
                        "SELECT MAX(offset) FROM records WHERE topic = ? AND partition = ?",
                        (topic, p),
                    ).fetchone()
                    next_offset[p] = -1 if last is None else int(last)
                next_offset[p] += 1
                rows.append((topic, p, next_offset[p], key, value, now_ms))
            conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)

    def consumer(self, topics: Sequence[str], group: str) -> LocalConsumer:
        return LocalConsumer(self, list(topics), group)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition (what a caught-up group has committed)."""
        n = self.partitions(topic)
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT partition, MAX(offset) + 1 FROM records WHERE topic = ? GROUP BY partition",
                (topic,),
            ).fetchall()
        ends = dict.fromkeys(range(n), 0)
        ends.update({int(p): int(o) for p, o in rows})
        return ends

    def committed(self, group: str, topic: str) -> dict[int, int]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT partition, next_offset FROM group_offsets WHERE group_id = ? AND topic = ?",
                (group, topic),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class LocalConsumer:
    """Reads from the committed offset onward; positions advance on poll, offsets on commit."""

    def __init__(self, log: LocalLog, topics: list[str], group: str) -> None:
        self._log = log
        self.group = group
        self._positions: dict[tuple[str, int], int] = {}
        for topic in topics:
            committed = log.committed(group, topic)
            for p in range(log.partitions(topic)):
                self._positions[(topic, p)] = committed.get(p, 0)

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            out = self._fetch(max_records)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(_POLL_INTERVAL_S)

    def _fetch(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        with self._log._tx() as conn:
            for (topic, p), pos in self._positions.items():
                room = max_records - len(out)
                if room <= 0:
                    break
                rows = conn.execute(
                    "SELECT offset, key, value, ts_ms FROM records "
                    "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
                    (topic, p, pos, room),
                ).fetchall()
                out.extend(Record(topic, p, int(o), k, bytes(v), int(t)) for o, k, v, t in rows)
        for rec in out:
            self._positions[(rec.topic, rec.partition)] = rec.offset + 1
        return out

    def commit(self, records: Sequence[Record]) -> None:
        highest: dict[tuple[str, int], int] = {}
        for rec in records:
            k = (rec.topic, rec.partition)
            highest[k] = max(highest.get(k, -1), rec.offset)
        with self._log._tx() as conn:
            conn.executemany(
                "INSERT INTO group_offsets VALUES (?, ?, ?, ?) "
                "ON CONFLICT (group_id, topic, partition) "
                "DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                [(self.group, t, p, o + 1) for (t, p), o in highest.items()],
            )

    def close(self) -> None:
        """Nothing to release: positions not committed are simply re-read by the next member."""
