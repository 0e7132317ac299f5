"""The embedded time-series store: one SQLite file, the same contract as Cassandra."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensorguard.schemas import Reading, Score
from sensorguard.settings import sqlite_path
from sensorguard.sqlite_db import SqliteDatabase

_SCORE_TABLES = {False: "scores", True: "shadow_scores"}
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

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteDatabase(path, what="store")

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        return cls(sqlite_path(url))

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
        rows = [
            (r.sensor_id, to_ms(r.ts), json.dumps(r.channels, sort_keys=True), r.seq)
            for r in readings
        ]
        with self._db.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?)", rows)
        return len(rows)

    def write_scores(self, scores: Sequence[Score], *, shadow: bool = False) -> int:
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
