"""Sensor types and sensors: CRUD, bulk registration, error messages, the validator's catalog."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sensorguard.errors import AlreadyExists, NotFound, ValidationFailed
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, ChannelSpec, Sensor, SensorType
from sensorguard.validation import ReadingValidator

CO2 = SensorType(
    name="co2",
    description="air quality",
    channels={"co2": ChannelSpec(unit="ppm", min=0, max=10_000, description="carbon dioxide")},
)


def _sensor(sensor_id: str, **fields: object) -> Sensor:
    values: dict[str, object] = {"sensor_type": "climate", "site": "plant-a", **fields}
    return Sensor.model_validate({"sensor_id": sensor_id, **values})


def test_builtin_types_round_trip_and_seeding_is_idempotent(store: MetadataStore) -> None:
    assert store.seed_builtin_types() == []  # the fixture seeded already
    assert store.list_sensor_types() == sorted(BUILTIN_SENSOR_TYPES, key=lambda t: t.name)
    assert len(store.audit_log(action="sensor_type.add")) == len(BUILTIN_SENSOR_TYPES)


def test_custom_type_add_replace_and_duplicate(store: MetadataStore) -> None:
    store.add_sensor_type(CO2)
    assert store.get_sensor_type("co2") == CO2
    with pytest.raises(AlreadyExists, match="sensor type 'co2' already exists"):
        store.add_sensor_type(CO2)
    wider = CO2.model_copy(update={"description": "wider"})
    store.add_sensor_type(wider, replace=True)
    assert store.get_sensor_type("co2").description == "wider"
    assert [e.action for e in store.audit_log(2)] == ["sensor_type.update", "sensor_type.add"]


def test_unknown_type_names_the_value_and_what_exists(store: MetadataStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get_sensor_type("climat")
    assert str(caught.value) == (
        "no sensor type named 'climat'; known: acoustic, climate, environment"
    )


def test_sensor_round_trip(store: MetadataStore) -> None:
    sensor = _sensor(
        "th-001",
        location="hall 3",
        tags={"floor": "2", "vendor": "acme"},
        installed_on=date(2024, 3, 1),
    )
    store.add_sensor(sensor)
    assert store.get_sensor("th-001") == sensor
    assert store.list_sensors() == [sensor]


def test_duplicate_sensor_is_refused_by_name(store: MetadataStore) -> None:
    store.add_sensor(_sensor("th-001"))
    with pytest.raises(AlreadyExists, match="sensor 'th-001' already exists"):
        store.add_sensor(_sensor("th-001", site="elsewhere"))
    assert store.get_sensor("th-001").site == "plant-a"


def test_sensor_of_unknown_type_names_sensor_type_and_known_types(store: MetadataStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.add_sensor(_sensor("th-001", sensor_type="clim"))
    message = str(caught.value)
    assert "th-001" in message
    assert "'clim'" in message
    assert "acoustic, climate, environment" in message
    assert store.list_sensors() == []


def test_missing_sensor_suggests_close_ids_when_there_are_many(store: MetadataStore) -> None:
    store.add_sensors([_sensor(f"th-{i:03d}") for i in range(20)])
    with pytest.raises(NotFound) as caught:
        store.get_sensor("th-0007")
    message = str(caught.value)
    assert "no sensor named 'th-0007'" in message
    assert "20 registered" in message
    assert "th-007" in message


def test_list_filters_by_site_and_type(store: MetadataStore) -> None:
    store.add_sensors(
        [
            _sensor("a-1", site="a"),
            _sensor("a-2", site="a", sensor_type="acoustic"),
            _sensor("b-1", site="b"),
        ]
    )
    assert [s.sensor_id for s in store.list_sensors(site="a")] == ["a-1", "a-2"]
    assert [s.sensor_id for s in store.list_sensors(sensor_type="climate")] == ["a-1", "b-1"]
    assert [s.sensor_id for s in store.list_sensors(site="a", sensor_type="acoustic")] == ["a-2"]
    assert store.sensors_at_site("a") == ["a-1", "a-2"]
    assert store.sensors_at_site("nowhere") == []


def test_update_changes_fields_and_audits_the_difference(store: MetadataStore) -> None:
    store.add_sensor(_sensor("th-001"))
    updated = store.update_sensor("th-001", site="plant-b", tags={"floor": "1"}, actor="ops")
    assert updated == store.get_sensor("th-001")
    assert (updated.site, updated.tags) == ("plant-b", {"floor": "1"})
    entry = store.audit_log(1)[0]
    assert (entry.actor, entry.action, entry.subject) == ("ops", "sensor.update", "th-001")
    assert entry.detail == {
        "site": {"from": "plant-a", "to": "plant-b"},
        "tags": {"from": {}, "to": {"floor": "1"}},
    }


def test_update_refuses_bad_values_renames_and_unknown_types(store: MetadataStore) -> None:
    store.add_sensor(_sensor("th-001"))
    with pytest.raises(ValidationFailed) as caught:
        store.update_sensor("th-001", site="has spaces")
    assert caught.value.field == "site"
    with pytest.raises(ValidationFailed, match="cannot be renamed"):
        store.update_sensor("th-001", sensor_id="th-002")
    with pytest.raises(NotFound, match="'gas'"):
        store.update_sensor("th-001", sensor_type="gas")
    with pytest.raises(NotFound, match="no sensor named 'th-404'"):
        store.update_sensor("th-404", site="b")
    assert store.get_sensor("th-001") == _sensor("th-001")


def test_remove(store: MetadataStore) -> None:
    store.add_sensor(_sensor("th-001"))
    assert store.remove_sensor("th-001") == _sensor("th-001")
    assert store.lookup("th-001") is None
    with pytest.raises(NotFound, match="th-001"):
        store.remove_sensor("th-001")


def test_bulk_upsert_is_quiet_when_nothing_changed(store: MetadataStore) -> None:
    fleet = [_sensor(f"th-{i:03d}", site=f"site-{i % 3}") for i in range(50)]
    first = store.add_sensors(fleet, upsert=True)
    assert len(first.added) == 50
    audit_size = len(store.audit_log(1000))

    again = store.add_sensors(fleet, upsert=True)
    assert (again.added, again.updated, len(again.unchanged)) == ([], [], 50)
    assert len(store.audit_log(1000)) == audit_size

    moved = [*fleet[:49], _sensor("th-049", site="site-9")]
    third = store.add_sensors(moved, upsert=True)
    assert third.updated == ["th-049"]
    assert store.sensors_at_site("site-9") == ["th-049"]


def test_bulk_without_upsert_is_all_or_nothing(store: MetadataStore) -> None:
    store.add_sensor(_sensor("th-002"))
    with pytest.raises(AlreadyExists, match="th-002"):
        store.add_sensors([_sensor("th-001"), _sensor("th-002"), _sensor("th-003")])
    assert [s.sensor_id for s in store.list_sensors()] == ["th-002"]


def test_lookup_feeds_the_reading_validator(store: MetadataStore) -> None:
    store.add_sensor_type(CO2)
    store.add_sensor(_sensor("co2-1", sensor_type="co2"))
    found = store.lookup("co2-1")
    assert found == (_sensor("co2-1", sensor_type="co2"), CO2)

    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    validator = ReadingValidator(store, clock=lambda: now)
    ok = validator.validate({"sensor_id": "co2-1", "ts": now.isoformat(), "channels": {"co2": 415}})
    assert ok.channels == {"co2": 415.0}
    with pytest.raises(ValidationFailed, match=r"within \[0, 10000\] ppm"):
        validator.validate({"sensor_id": "co2-1", "ts": now.isoformat(), "channels": {"co2": -5}})
    with pytest.raises(ValidationFailed, match="registered sensor"):
        validator.validate({"sensor_id": "nope", "ts": now.isoformat(), "channels": {"co2": 1}})
