"""A metadata database with a few sensors, and the alert store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorguard.alerting.store import AlertStore
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import Sensor

SENSORS = (
    Sensor(sensor_id="th-1", sensor_type="climate", site="plant-1", tags={"floor": "2"}),
    Sensor(sensor_id="th-2", sensor_type="climate", site="plant-2"),
    Sensor(sensor_id="snd-1", sensor_type="acoustic", site="plant-1"),
)


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
