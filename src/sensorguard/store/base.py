"""The time-series store interface every backend (SQLite, Cassandra) implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sensorguard.schemas import Reading, Score


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
