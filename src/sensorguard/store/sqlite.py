"""The embedded time-series store: one SQLite file, the same contract as Cassandra.

Retention as in Cassandra, counted from each row's timestamp: a row already past
`retention_days` is not stored, and what ages past it is deleted by the next write once
`store_purge_interval_s` has passed since the last purge (so every writer, the ingest writer
and the stream scorer alike, keeps the file bounded without a loop of its own), or at once by
`sensorguard store purge`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sensorguard.schemas import Reading, Score, utc_now
from sensorguard.settings import sqlite_path
from sensorguard.sqlite_db import SqliteDatabase
from sensorguard.store.base import TableStats, retention_cutoff, within_retention

if TYPE_CHECKING:
    from sensorguard.settings import Settings

log = logging.getLogger(__name__)

_SCORE_TABLES = {False: "scores", True: "shadow_scores"}
TABLES = ("readings", *_SCORE_TABLES.values())
# The sensors of a table, one index seek each (a skip scan): DISTINCT would read every row.
_SENSORS = """
WITH RECURSIVE ids(sensor_id) AS (
    SELECT MIN(sensor_id) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(sensor_id) FROM {table} WHERE sensor_id > ids.sensor_id)
    FROM ids WHERE ids.sensor_id IS NOT NULL
)
SELECT sensor_id FROM ids WHERE sensor_id IS NOT NULL
"""
# Columns added to the scores tables after their first release: (name, declaration).
_ADDED_SCORE_COLUMNS = (
    ("kind", "TEXT NOT NULL DEFAULT ''"),
    ("contributions", "TEXT NOT NULL DEFAULT '{}'"),
)
# The champion's verdicts and a challenger's (shadow) have one shape.
_SCORES_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    sensor_id     TEXT NOT NULL,
    ts_ms         INTEGER NOT NULL,
    score         REAL NOT NULL,
    flag          INTEGER NOT NULL,
    threshold     REAL NOT NULL,
    model         TEXT NOT NULL,
    model_version TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT '',
    contributions TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (sensor_id, ts_ms)
) WITHOUT ROWID;
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    sensor_id TEXT NOT NULL,
    ts_ms     INTEGER NOT NULL,
    channels  TEXT NOT NULL,
    seq       INTEGER,
    PRIMARY KEY (sensor_id, ts_ms)
) WITHOUT ROWID;
"""


def to_ms(ts: datetime) -> int:
    # Integer arithmetic: float timestamps would round some milliseconds away.
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


def _reading(sensor_id: str, ts_ms: int, channels: str, seq: int | None) -> Reading:
    # model_construct: rows were validated on the way in; re-validating costs ~10x.
    return Reading.model_construct(
        sensor_id=sensor_id, ts=from_ms(ts_ms), channels=json.loads(channels), units=None, seq=seq
    )


class SqliteStore:
    """Readings and scores in a WAL-mode SQLite file; upserts make replays idempotent."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int | None = None,
        purge_interval_s: float = 600.0,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`retention_days` None keeps everything (a store opened without settings)."""
        self.path = path
        self.retention_days = retention_days
        self.purge_interval_s = purge_interval_s
        self._clock = clock
        self._monotonic = monotonic
        self._next_purge = float("-inf")
        self._db = SqliteDatabase(path, what="store")

    @classmethod
    def from_url(cls, url: str, *, settings: Settings | None = None) -> SqliteStore:
        if settings is None:
            return cls(sqlite_path(url))
        return cls(
            sqlite_path(url),
            retention_days=settings.retention_days,
            purge_interval_s=settings.store_purge_interval_s,
        )

    # -- retention ------------------------------------------------------------------------

    def _kept(self, rows: Sequence[Any], what: str) -> Sequence[Any]:
        if self.retention_days is None:
            return rows
        kept = within_retention(rows, retention_cutoff(self.retention_days, self._clock()))
        if len(kept) < len(rows):
            log.info(
                "not storing %d %s older than the retention of %d days",
                len(rows) - len(kept),
                what,
                self.retention_days,
            )
        return kept

    def _purge_if_due(self) -> None:
        if self.retention_days is None or self._monotonic() < self._next_purge:
            return
        self._next_purge = self._monotonic() + self.purge_interval_s
        deleted = self.purge()
        if any(deleted.values()):
            log.info("retention purge (%d days): deleted %s", self.retention_days, deleted)

    def purge(self) -> dict[str, int]:
        """Delete the rows older than the retention now; rows deleted per table.

        One short transaction per sensor and table (a range delete on the primary key), so
        writers in other processes wait for the lock for one sensor's rows at most.
        """
        if self.retention_days is None:
            return dict.fromkeys(TABLES, 0)
        cutoff = to_ms(retention_cutoff(self.retention_days, self._clock()))
        deleted = {}
        for table in TABLES:
            count = 0
            for (sensor_id,) in self._db.read(_SENSORS.format(table=table)):
                with self._db.write() as conn:
                    count += conn.execute(
                        f"DELETE FROM {table} WHERE sensor_id = ? AND ts_ms < ?",
                        (sensor_id, cutoff),
                    ).rowcount
            deleted[table] = count
        return deleted

    def stats(self) -> list[TableStats]:
        """Exact rows, bytes of the table's pages (SQLite's dbstat) and its time span."""
        sizes = dict(
            self._db.read(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name IN (?, ?, ?) GROUP BY name",
                TABLES,
            )
        )
        out = []
        for table in TABLES:
            rows, oldest, newest = self._db.read(
                f"SELECT COUNT(*), MIN(ts_ms), MAX(ts_ms) FROM {table}"
            )[0]
            out.append(
                TableStats(
                    table=table,
                    rows=rows,
                    bytes=sizes.get(table),
                    oldest=None if oldest is None else from_ms(oldest),
                    newest=None if newest is None else from_ms(newest),
                )
            )
        return out

    def migrate(self) -> None:
        self._db.create_schema(
            _SCHEMA + "".join(_SCORES_TABLE.format(table=t) for t in _SCORE_TABLES.values())
        )
        for table in _SCORE_TABLES.values():
            have = {row[1] for row in self._db.read(f"PRAGMA table_info({table})")}
            for name, declaration in _ADDED_SCORE_COLUMNS:
                if name not in have:
                    with self._db.write() as conn:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def write_readings(self, readings: Sequence[Reading]) -> int:
        self._purge_if_due()
        readings = self._kept(readings, "readings")
        rows = [
            (r.sensor_id, to_ms(r.ts), json.dumps(r.channels, sort_keys=True), r.seq)
            for r in readings
        ]
        with self._db.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def write_scores(self, scores: Sequence[Score], *, shadow: bool = False) -> int:
        self._purge_if_due()
        scores = self._kept(scores, _SCORE_TABLES[shadow])
        rows = [
            (
                s.sensor_id,
                to_ms(s.ts),
                s.score,
                int(s.flag),
                s.threshold,
                s.model,
                s.model_version,
                s.kind,
                json.dumps(s.contributions, sort_keys=True),
            )
            for s in scores
        ]
        table = _SCORE_TABLES[shadow]
        with self._db.write() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO {table} (sensor_id, ts_ms, score, flag, threshold, "
                "model, model_version, kind, contributions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def _range(
        self, table: str, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[Any, ...]]:
        marks = ",".join("?" * len(sensor_ids))
        sql = (
            f"SELECT * FROM {table} WHERE sensor_id IN ({marks}) AND ts_ms >= ? AND ts_ms < ? "
            "ORDER BY sensor_id, ts_ms"
        )
        return self._db.read(sql, (*sensor_ids, to_ms(start), to_ms(end)))

    def read_readings(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[Reading]:
        # model_construct: rows were validated on the way in; re-validating costs ~10x.
        return [_reading(*row) for row in self._range("readings", sensor_ids, start, end)]

    def read_latest(
        self, sensor_id: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        rows = self._db.read(
            "SELECT sensor_id, ts_ms, channels, seq FROM readings WHERE sensor_id = ? "
            "AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms DESC LIMIT ?",
            (sensor_id, to_ms(start), to_ms(end), max(0, limit)),
        )
        return [_reading(*row) for row in reversed(rows)]

    def read_scores(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime, *, shadow: bool = False
    ) -> list[Score]:
        marks = ",".join("?" * len(sensor_ids))
        sql = (
            "SELECT sensor_id, ts_ms, score, flag, threshold, model, model_version, kind, "
            f"contributions FROM {_SCORE_TABLES[shadow]} WHERE sensor_id IN ({marks}) "
            "AND ts_ms >= ? AND ts_ms < ? ORDER BY sensor_id, ts_ms"
        )
        return [
            Score.model_construct(
                sensor_id=sid,
                ts=from_ms(ts),
                score=score,
                flag=bool(flag),
                threshold=thr,
                model=model,
                model_version=ver,
                kind=kind,
                contributions=json.loads(contributions),
            )
            for sid, ts, score, flag, thr, model, ver, kind, contributions in self._db.read(
                sql, (*sensor_ids, to_ms(start), to_ms(end))
            )
        ]

    def close(self) -> None:
        self._db.close()
