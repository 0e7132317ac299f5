"""Test helpers shared by the metadata tests (a module, so tests can import them by name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PEPPER = "test-pepper"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
