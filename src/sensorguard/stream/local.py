"""The embedded stream: a durable append-only log in SQLite with Kafka-like offsets.

Topics have partitions and a key picks the partition (so one sensor stays in order); consumer
groups keep committed offsets in the same file, so a restarted consumer resumes where it
committed. One member per group: unlike Kafka there is no rebalancing between processes.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from itertools import count
from pathlib import Path

from sensorguard.errors import NotFound
from sensorguard.settings import sqlite_path
from sensorguard.sqlite_db import SqliteDatabase
from sensorguard.stream.base import ALL_TOPICS, Message, Record, next_offsets

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
        self._db = SqliteDatabase(path, what="stream log", synchronous="FULL")
        self._round_robin = count()
        self._db.create_schema(_SCHEMA)

    @classmethod
    def from_url(cls, url: str, *, partitions: int = 6) -> LocalLog:
        return cls(sqlite_path(url), partitions=partitions)

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO topics VALUES (?, ?)",
                [(t, self.default_partitions) for t in topics],
            )

    def partitions(self, topic: str) -> int:
        rows = self._db.read("SELECT partitions FROM topics WHERE name = ?", (topic,))
        if not rows:
            raise NotFound(
                "topic", topic, known=[r[0] for r in self._db.read("SELECT name FROM topics")]
            )
        return int(rows[0][0])

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        n = self.partitions(topic)
        now_ms = int(time.time() * 1000)
        # The write transaction takes the file's lock first, so two producers never pick one offset.
        with self._db.write() as conn:
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

    def tail(self, topics: Sequence[str]) -> LocalConsumer:
        return LocalConsumer(self, list(topics), None)

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to be written, per partition (what a caught-up group has committed)."""
        n = self.partitions(topic)
        rows = self._db.read(
            "SELECT partition, MAX(offset) + 1 FROM records WHERE topic = ? GROUP BY partition",
            (topic,),
        )
        ends = dict.fromkeys(range(n), 0)
        ends.update({int(p): int(o) for p, o in rows})
        return ends

    def committed(self, group: str, topic: str) -> dict[int, int]:
        rows = self._db.read(
            "SELECT partition, next_offset FROM group_offsets WHERE group_id = ? AND topic = ?",
            (group, topic),
        )
        return {int(p): int(o) for p, o in rows}

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        # No retention here: every log starts at offset 0, where an uncommitted group starts.
        lags: dict[tuple[str, int], int] = {}
        for topic in topics:
            done = self.committed(group, topic)
            for p, end in self.end_offsets(topic).items():
                lags[(topic, p)] = max(0, end - done.get(p, 0))
        return lags

    def close(self) -> None:
        self._db.close()


class LocalConsumer:
    """Reads from the committed offset onward; positions advance on poll, offsets on commit."""

    def __init__(self, log: LocalLog, topics: list[str], group: str | None) -> None:
        """A member of `group` from its committed offsets, or (no group) a tail from the end."""
        self._log = log
        self.group = group
        self._positions: dict[tuple[str, int], int] = {}
        for topic in topics:
            start = log.committed(group, topic) if group is not None else log.end_offsets(topic)
            for p in range(log.partitions(topic)):
                self._positions[(topic, p)] = start.get(p, 0)

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            out = self._fetch(max_records)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(_POLL_INTERVAL_S)

    def _fetch(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        db = self._log._db
        with db.lock, db.errors():
            conn = db.conn
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
        if self.group is None:  # a tail has no offsets to keep
            return
        with self._log._db.write() as conn:
            conn.executemany(
                "INSERT INTO group_offsets VALUES (?, ?, ?, ?) "
                "ON CONFLICT (group_id, topic, partition) "
                "DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                [(self.group, t, p, o) for (t, p), o in next_offsets(records).items()],
            )

    def assignment(self) -> frozenset[tuple[str, int]]:
        # One member reads every partition: the local log has no group coordinator.
        return frozenset(self._positions)

    def close(self) -> None:
        """Nothing to release: positions not committed are simply re-read by the next member."""
