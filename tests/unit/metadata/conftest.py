"""Fixtures for the metadata store tests: a fresh SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from metadata_helpers import PEPPER, FakeClock

from sensorguard.metadata import MetadataStore, open_metadata


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "meta" / "metadata.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[MetadataStore]:
    with open_metadata(f"sqlite:///{db_path}", pepper=PEPPER) as opened:
        opened.seed_builtin_types()
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_store(db_path: Path, clock: FakeClock) -> Iterator[MetadataStore]:
    with MetadataStore(db_path, pepper=PEPPER, clock=clock) as opened:
        yield opened
