"""The time-series store interface every backend (SQLite, Cassandra) implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict

from sensorguard.schemas import Reading, Score

R = TypeVar("R", Reading, Score)


class TimeSeriesStore(Protocol):
    """Readings and scores keyed by (sensor_id, ts); writes are idempotent upserts.

    Range reads are half-open [start, end) and come back ordered by sensor_id, then ts ascending.
    """

    def migrate(self) -> None:
        """Create or upgrade the schema; safe to run twice."""

    def write_readings(self, readings: Sequence[Reading]) -> int:
        """Upsert readings; returns how many were written. Raises BackendUnavailable on failure."""

    def write_scores(self, scores: Sequence[Score], *, shadow: bool = False) -> int:
        """Upsert scores (one per reading, the latest model's verdict wins).

        ``shadow``: a challenger's verdicts, kept in their own table; they never alert.
        """

    def read_readings(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[Reading]: ...

    def read_latest(
        self, sensor_id: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        """The newest ``limit`` readings of one sensor in [start, end), in ascending time: what
        a live scorer needs before a reading, without reading the whole range."""

    def read_scores(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime, *, shadow: bool = False
    ) -> list[Score]: ...

    def close(self) -> None: ...


class TableStats(BaseModel):
    """What `sensorguard store stats` shows of one table."""

    model_config = ConfigDict(frozen=True)

    table: str
    rows: int | None
    partitions: int | None = None  # Cassandra: (sensor, day) partitions, estimated
    bytes: int | None = None
    bytes_estimated: bool = False
    oldest: AwareDatetime | None = None
    newest: AwareDatetime | None = None
    note: str = ""


@runtime_checkable
class MaintainedStore(Protocol):
    """The housekeeping both real backends offer besides the TimeSeriesStore contract."""

    def stats(self) -> list[TableStats]:
        """Per table: rows, bytes on disk, oldest and newest timestamp."""

    def purge(self) -> dict[str, int]:
        """Delete what is older than the retention now; rows deleted per table (the Cassandra
        store's TTLs do this by themselves, so it deletes nothing)."""

    def close(self) -> None: ...


def retention_cutoff(retention_days: int, now: datetime) -> datetime:
    """Rows stamped before this are past retention: never stored, and removed once stored."""
    return now - timedelta(days=retention_days)


def within_retention(rows: Sequence[R], cutoff: datetime) -> list[R]:
    """The rows young enough to keep (retention counts from a row's own timestamp)."""
    return [r for r in rows if r.ts >= cutoff]
