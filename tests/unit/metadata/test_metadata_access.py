"""Users, API keys, model specs, alert rules and the audit log of the metadata store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from metadata_helpers import PEPPER, FakeClock

from sensorguard.errors import AlreadyExists, NotFound, ValidationFailed
from sensorguard.metadata import MetadataStore, Principal
from sensorguard.metadata.apikeys import hash_secret, parse_key
from sensorguard.schemas import Sensor


def _db_bytes(path: Path) -> bytes:
    """The database file plus its WAL: recent writes live in the WAL until a checkpoint."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_users_add_get_list_and_errors(store: MetadataStore) -> None:
    store.add_user("alice", "admin")
    store.add_user("gw-7", "device")
    assert store.get_user("gw-7").role == "device"
    assert [u.username for u in store.list_users()] == ["alice", "gw-7"]
    with pytest.raises(AlreadyExists, match="user 'alice' already exists"):
        store.add_user("alice", "operator")
    with pytest.raises(ValidationFailed) as caught:
        store.add_user("bob", "boss")
    assert str(caught.value) == (
        "role must be one of admin, data_scientist, operator, device, got 'boss'"
    )
    with pytest.raises(ValidationFailed, match="username"):
        store.add_user("bob smith", "operator")
    with pytest.raises(NotFound, match="no user named 'carol'; known: alice, gw-7"):
        store.get_user("carol")


def test_api_key_round_trip(store: MetadataStore) -> None:
    store.add_user("gw-7", "device")
    key_id, plaintext = store.create_api_key("gw-7", "hall 3")
    assert plaintext.startswith(f"sg_{key_id}_")
    assert store.verify_api_key(plaintext) == Principal(
        username="gw-7", role="device", key_id=key_id
    )
    assert store.verify_api_key(f"  {plaintext}\n") is not None  # pasted with whitespace

    wrong_secret = plaintext[:-1] + ("B" if plaintext.endswith("A") else "A")
    other_id = f"sg_{'0' * 16}_{plaintext.split('_', 2)[2]}"
    for bad in (wrong_secret, other_id, "sg_nonsense", "", plaintext + "x" * 200):
        assert store.verify_api_key(bad) is None, bad


def test_revoked_keys_stop_working_and_revoking_twice_is_harmless(store: MetadataStore) -> None:
    store.add_user("gw-7", "device")
    key_id, plaintext = store.create_api_key("gw-7")
    other_id, other = store.create_api_key("gw-7", "spare")
    info = store.revoke_api_key(key_id, actor="admin")
    assert not info.active
    assert store.verify_api_key(plaintext) is None
    assert store.verify_api_key(other) is not None
    store.revoke_api_key(key_id, actor="admin")
    assert len(store.audit_log(action="api_key.revoke")) == 1
    with pytest.raises(NotFound, match="no API key named 'feedfeedfeedfeed'"):
        store.revoke_api_key("feedfeedfeedfeed")
    assert {k.key_id: k.active for k in store.list_api_keys("gw-7")} == {
        key_id: False,
        other_id: True,
    }


def test_only_a_peppered_hash_is_stored(store: MetadataStore, db_path: Path) -> None:
    store.add_user("gw-7", "device")
    _, plaintext = store.create_api_key("gw-7")
    parsed = parse_key(plaintext)
    assert parsed is not None
    _, secret = parsed
    on_disk = _db_bytes(db_path)
    assert secret.encode() not in on_disk
    assert plaintext.encode() not in on_disk
    assert hash_secret(PEPPER, secret).encode() in on_disk  # we looked in the right place

    with MetadataStore(db_path, pepper="another-pepper") as other:
        assert other.verify_api_key(plaintext) is None


def test_listed_keys_carry_no_secret(store: MetadataStore) -> None:
    store.add_user("gw-7", "device")
    _, plaintext = store.create_api_key("gw-7")
    secret = plaintext.split("_", 2)[2]
    (info,) = store.list_api_keys()
    dumped = info.model_dump_json()
    assert secret not in dumped
    assert "hash" not in dumped
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        store.list_api_keys("nobody")
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        store.create_api_key("nobody")


def test_last_used_is_recorded_at_most_once_a_minute(
    clocked_store: MetadataStore, clock: FakeClock
) -> None:
    clocked_store.add_user("gw-7", "device")
    _, plaintext = clocked_store.create_api_key("gw-7")
    assert clocked_store.list_api_keys()[0].last_used_at is None
    first = clock.now
    clocked_store.verify_api_key(plaintext)
    clock.advance(30)
    clocked_store.verify_api_key(plaintext)
    assert clocked_store.list_api_keys()[0].last_used_at == first
    clock.advance(31)
    clocked_store.verify_api_key(plaintext)
    assert clocked_store.list_api_keys()[0].last_used_at == clock.now


def test_audit_entries_never_hold_a_key(store: MetadataStore, db_path: Path) -> None:
    store.add_user("gw-7", "device")
    key_id, plaintext = store.create_api_key("gw-7", "hall 3", actor="alice")
    entry = store.audit_log(1)[0]
    assert (entry.actor, entry.action, entry.subject) == ("alice", "api_key.create", "gw-7")
    assert entry.detail == {"key_id": key_id, "name": "hall 3"}

    store.audit("ingest", "note", "gw-7", {"text": f"client sent {plaintext} by mistake"})
    note = store.audit_log(1)[0]
    assert plaintext not in note.detail["text"]
    assert "sg_[redacted]" in note.detail["text"]
    assert plaintext.split("_", 2)[2].encode() not in _db_bytes(db_path)


def test_audit_log_filters_orders_and_is_append_only(store: MetadataStore, db_path: Path) -> None:
    store.add_user("alice", "admin", actor="root")
    store.add_user("bob", "operator", actor="alice")
    store.add_sensor(Sensor(sensor_id="th-1", sensor_type="climate", site="a"), actor="alice")
    by_alice = store.audit_log(actor="alice")
    assert [(e.action, e.subject) for e in by_alice] == [
        ("sensor.add", "th-1"),
        ("user.add", "bob"),
    ]
    assert [e.subject for e in store.audit_log(action="user.add")] == ["bob", "alice"]
    assert len(store.audit_log(1, actor="alice")) == 1

    with sqlite3.connect(db_path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'someone-else'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")


def test_model_specs_count_versions_of_changes(store: MetadataStore) -> None:
    spec = {"detector": "ecod", "window": "10min", "threshold": {"quantile": 0.99}}
    assert store.put_model_spec("climate-default", "climate", spec).version == 1
    assert store.put_model_spec("climate-default", "climate", dict(spec)).version == 1
    changed = store.put_model_spec("climate-default", "climate", {**spec, "detector": "iforest"})
    assert changed.version == 2
    assert store.get_model_spec("climate-default") == changed
    store.put_model_spec("acoustic-default", "acoustic", {"detector": "hbos"})
    assert [m.name for m in store.list_model_specs(sensor_group="climate")] == ["climate-default"]
    assert len(store.list_model_specs()) == 2
    assert len(store.audit_log(action="model_spec.put")) == 3
    with pytest.raises(NotFound, match="no model spec named 'x'"):
        store.get_model_spec("x")
    with pytest.raises(ValidationFailed, match="JSON"):
        store.put_model_spec("bad", "climate", {"threshold": float("nan")})


def test_alert_rules_keep_their_state_across_edits(store: MetadataStore) -> None:
    rule = {"when": "score > threshold", "for": "5m", "notify": ["log"]}
    assert store.put_alert_rule("hot-hall", rule).enabled
    assert not store.disable_alert_rule("hot-hall").enabled
    edited = store.put_alert_rule("hot-hall", {**rule, "for": "10m"})
    assert (edited.enabled, edited.definition["for"]) == (False, "10m")
    assert store.list_alert_rules(enabled_only=True) == []
    assert store.enable_alert_rule("hot-hall").enabled
    assert [r.name for r in store.list_alert_rules(enabled_only=True)] == ["hot-hall"]
    assert store.get_alert_rule("hot-hall").definition == {**rule, "for": "10m"}
    with pytest.raises(NotFound, match="no alert rule named 'cold'; known: hot-hall"):
        store.enable_alert_rule("cold")


MUTATIONS: list[tuple[str, Callable[[MetadataStore], object]]] = [
    (
        "sensor_type.add",
        lambda s: s.add_sensor_type(
            s.get_sensor_type("climate").model_copy(update={"name": "climate2"}), actor="t"
        ),
    ),
    (
        "sensor.add",
        lambda s: s.add_sensor(Sensor(sensor_id="n-1", sensor_type="climate", site="a"), actor="t"),
    ),
    ("sensor.update", lambda s: s.update_sensor("th-0", site="b", actor="t")),
    ("sensor.remove", lambda s: s.remove_sensor("th-0", actor="t")),
    ("model_spec.put", lambda s: s.put_model_spec("m", "climate", {"a": 1}, actor="t")),
    ("alert_rule.put", lambda s: s.put_alert_rule("r2", {"a": 1}, actor="t")),
    ("alert_rule.disable", lambda s: s.disable_alert_rule("r", actor="t")),
    ("user.add", lambda s: s.add_user("carol", "operator", actor="t")),
    ("api_key.create", lambda s: s.create_api_key("u", actor="t")),
    ("api_key.revoke", lambda s: s.revoke_api_key(s.list_api_keys("u")[0].key_id, actor="t")),
]


@pytest.mark.parametrize(("action", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_every_mutation_is_audited(
    store: MetadataStore, action: str, mutate: Callable[[MetadataStore], object]
) -> None:
    store.add_sensor(Sensor(sensor_id="th-0", sensor_type="climate", site="a"))
    store.put_alert_rule("r", {"a": 1})
    store.add_user("u", "device")
    store.create_api_key("u")
    mutate(store)
    entries = store.audit_log(actor="t")
    assert [e.action for e in entries] == [action]
