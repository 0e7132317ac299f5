"""A metadata database with a few sensors, and the alert store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alerting_helpers import SENSORS

from sensorguard.alerting.store import AlertStore
from sensorguard.metadata import MetadataStore


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(tmp_path / "metadata.db")
    store.seed_builtin_types(actor="test")
    store.add_sensors(SENSORS, actor="test")
    yield store
    store.close()


@pytest.fixture
def alerts(metadata: MetadataStore) -> Iterator[AlertStore]:
    store = AlertStore(metadata.path)
    yield store
    store.close()
