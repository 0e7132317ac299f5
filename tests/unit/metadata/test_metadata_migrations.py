"""Schema migrations: versioned, idempotent, transactional; newer databases are refused."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sensorguard.errors import ConfigError, UnsupportedURL
from sensorguard.metadata import MIGRATIONS, MetadataStore, migrate, open_metadata, schema_version
from sensorguard.schemas import Sensor


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_open_creates_parent_dirs_and_applies_every_migration(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with open_metadata(f"sqlite:///{db_path}", pepper="p"):
        pass
    with sqlite3.connect(db_path) as conn:
        assert schema_version(conn) == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {
        "sensor_types",
        "sensors",
        "model_specs",
        "alert_rules",
        "users",
        "api_keys",
        "audit_log",
    } <= _tables(db_path)


def test_reopening_is_a_no_op_and_keeps_data(db_path: Path) -> None:
    with MetadataStore(db_path, pepper="p") as first:
        first.seed_builtin_types()
        first.add_sensor(Sensor(sensor_id="th-1", sensor_type="climate", site="a"))
    with MetadataStore(db_path, pepper="p") as second:
        assert second.get_sensor("th-1").site == "a"
        with sqlite3.connect(db_path) as conn:
            assert migrate(conn, db_path) == len(MIGRATIONS)
        assert second.seed_builtin_types() == []


def test_an_older_database_is_upgraded_in_place(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, db_path, MIGRATIONS[:1]) == 1
    conn.execute(
        'INSERT INTO sensor_types VALUES (\'co2\', \'\', \'{"co2": {"unit": "ppm", '
        "\"min\": 0, \"max\": 5000}}', 'x', 'x')"
    )
    conn.close()
    assert "users" not in _tables(db_path)
    with MetadataStore(db_path, pepper="p") as store:
        assert store.get_sensor_type("co2").channels["co2"].unit == "ppm"
        store.add_user("alice", "admin")
    with sqlite3.connect(db_path) as conn:
        assert schema_version(conn) == len(MIGRATIONS)


def test_a_failing_step_is_rolled_back_and_leaves_the_version(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    broken = (*MIGRATIONS[:1], ("CREATE TABLE half_done (a TEXT)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, db_path, broken)
    assert schema_version(conn) == 1
    assert "half_done" not in _tables(db_path)
    assert not conn.in_transaction
    conn.close()


def test_a_database_from_a_newer_version_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 4}")
    with pytest.raises(ConfigError) as caught:
        open_metadata(f"sqlite:///{db_path}")
    message = str(caught.value)
    assert str(db_path) in message
    assert f"schema version {len(MIGRATIONS) + 4}" in message
    assert f"up to {len(MIGRATIONS)}" in message


def test_concurrent_openers_migrate_once(db_path: Path) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            MetadataStore(db_path, pepper="p").close()
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    db_path.parent.mkdir(parents=True)
    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite3.connect(db_path) as conn:
        assert schema_version(conn) == len(MIGRATIONS)


def test_two_connections_writing_at_once_lose_nothing(db_path: Path) -> None:
    # Two stores stand in for two processes (ingest server and CLI): separate connections.
    stores = [MetadataStore(db_path, pepper="p") for _ in range(2)]
    stores[0].seed_builtin_types()
    errors: list[BaseException] = []

    def register(store: MetadataStore, prefix: str) -> None:
        try:
            for i in range(25):
                store.add_sensor(Sensor(sensor_id=f"{prefix}-{i}", sensor_type="climate", site="a"))
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [
        threading.Thread(target=register, args=(store, prefix))
        for store, prefix in zip(stores, ("x", "y"), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(stores[1].sensors_at_site("a")) == 50
    assert len(stores[0].audit_log(1000, action="sensor.add")) == 50
    for store in stores:
        store.close()


def test_foreign_keys_are_enforced(store: MetadataStore) -> None:
    with pytest.raises(sqlite3.IntegrityError), store._write() as conn:
        conn.execute(
            "INSERT INTO sensors (sensor_id, sensor_type, site, created_at, updated_at) "
            "VALUES ('x', 'no-such-type', 'a', 't', 't')"
        )


def test_other_urls_and_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedURL, match="SENSORGUARD_METADATA_URL"):
        open_metadata("postgresql://db/meta")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"junk\.db"):
        open_metadata(f"sqlite:///{junk}")
