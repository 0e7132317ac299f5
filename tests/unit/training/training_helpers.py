"""Constants shared by the training tests (a helper module: conftest is not importable by name)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

FAST_SPECS = Path(__file__).resolve().parent / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)
