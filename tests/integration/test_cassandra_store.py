"""What the Cassandra store promises beyond the shared contract: schema, day buckets, errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from integration_support import free_port

from sensorguard.errors import BackendUnavailable, ConfigError
from sensorguard.schemas import Reading
from sensorguard.settings import Settings
from sensorguard.store import open_store
from sensorguard.store.cassandra import CassandraStore, CassandraURL

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def series(sensor: str, n: int, step: timedelta, start: datetime = T0) -> list[Reading]:
    return [
        Reading(sensor_id=sensor, ts=start + i * step, channels={"sound_level": 30 + i % 50}, seq=i)
        for i in range(n)
    ]


def test_url_names_contact_points_and_keyspace() -> None:
    parsed = CassandraURL.parse("cassandra://c1,c2:9043/sg_prod")
    assert parsed == CassandraURL((("c1", 9042), ("c2", 9043)), "sg_prod")
    for bad in (
        "cassandra://c1",
        "cassandra:///ks",
        "cassandra://c1/bad-name",
        "cassandra://c1:x/ks",
    ):
        with pytest.raises(ConfigError):
            CassandraURL.parse(bad)


def test_schema_follows_the_settings_and_migrate_twice_is_safe(cassandra_url: str) -> None:
    settings = Settings(retention_days=30, cassandra_replication_factor=1)
    store = CassandraStore.from_url(cassandra_url, settings=settings)
    store.migrate()
    # Recent readings: retention counts from a reading's own time, and T0 is past 30 days.
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    store.write_readings(series("snd-1", 3, timedelta(minutes=1), start=recent))
    store.migrate()  # keeps the data
    assert len(store.read_readings(["snd-1"], recent, recent + timedelta(hours=1))) == 3
    rows = store.session.execute(
        "SELECT table_name, default_time_to_live, compaction, compression "
        "FROM system_schema.tables WHERE keyspace_name = %s",
        (store.keyspace,),
    )
    tables = {r.table_name: r for r in rows}
    assert sorted(tables) == ["readings", "scores", "shadow_scores"]
    for table in tables.values():
        assert table.default_time_to_live == 30 * 86_400
        assert table.compaction["class"].endswith("TimeWindowCompactionStrategy")
        assert table.compaction["compaction_window_unit"] == "DAYS"
        assert table.compression["class"].endswith("LZ4Compressor")
    ks = store.session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
        (store.keyspace,),
    ).one()
    assert ks.replication["class"].endswith("SimpleStrategy")
    assert ks.replication["replication_factor"] == "1"
    store.close()


def test_changed_retention_is_reported_not_applied(
    cassandra_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = CassandraStore.from_url(cassandra_url, settings=Settings(retention_days=30))
    first.migrate()
    first.close()
    store = CassandraStore.from_url(cassandra_url, settings=Settings(retention_days=7))
    with caplog.at_level(logging.WARNING, logger="sensorguard.store.cassandra"):
        store.migrate()
    assert "SENSORGUARD_RETENTION_DAYS" in caplog.text
    store.close()


def test_ranges_span_day_buckets_and_pages_in_ascending_order(cassandra_url: str) -> None:
    store = open_store(cassandra_url)
    # 10,000 readings 12 s apart from 20:00: three day buckets, the middle one holding 7,200
    # rows, more than the driver's page (5,000) and far more than one batch.
    dense = series("snd-1", 10_000, timedelta(seconds=12))
    sparse = series("snd-2", 200, timedelta(minutes=20))
    store.write_readings(dense[::-1] + sparse)  # order of writing must not matter
    start, end = dense[100].ts, dense[9_500].ts
    got = store.read_readings(["snd-2", "snd-1", "snd-1"], start, end)
    want = dense[100:9_500] + [r for r in sparse if start <= r.ts < end]
    assert len({r.ts.date() for r in want}) == 3
    assert got == want
    assert store.read_readings(["snd-1"], end, start) == []
    store.close()


def test_last_version_in_one_write_wins(cassandra_url: str) -> None:
    store = open_store(cassandra_url)
    first = series("snd-1", 60, timedelta(seconds=1))
    second = [r.model_copy(update={"channels": {"sound_level": 99.5}}) for r in first]
    # Both versions in one call: they share a partition, hence an unlogged batch.
    store.write_readings(first + second)
    assert store.read_readings(["snd-1"], T0, T0 + timedelta(hours=1)) == second
    store.close()


def test_unreachable_cluster_is_reported_with_its_contact_points() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        open_store(f"cassandra://127.0.0.1:{port}/sg_nowhere")
