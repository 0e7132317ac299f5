"""Retention and stats on the real Cassandra: every table's rows carry the TTL retention leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sensorguard.schemas import Reading, Score
from sensorguard.settings import Settings
from sensorguard.store import open_store
from sensorguard.store.cassandra import CassandraStore

pytestmark = pytest.mark.integration

DAY_S = 86_400


def score(ts: datetime) -> Score:
    return Score(
        sensor_id="th-1", ts=ts, score=0.1, flag=False, threshold=1.0, model="m", model_version="1"
    )


def test_readings_scores_and_shadow_scores_expire_when_their_data_does(
    cassandra_url: str, tmp_path: object
) -> None:
    settings = Settings(retention_days=30)
    store = open_store(cassandra_url, settings=settings)
    assert isinstance(store, CassandraStore)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        ten_days_old, fresh = now - timedelta(days=10), now - timedelta(minutes=5)
        too_old = now - timedelta(days=31)
        assert (
            store.write_readings(
                [
                    Reading(sensor_id="th-1", ts=t, channels={"t": 1.0})
                    for t in (too_old, ten_days_old, fresh)
                ]
            )
            == 2
        )
        assert store.write_scores([score(ten_days_old), score(too_old)]) == 1
        assert store.write_scores([score(ten_days_old)], shadow=True) == 1
        ks = store.keyspace
        checks = {
            "readings": "channels",
            "scores": "score",
            "shadow_scores": "score",
        }
        for table, column in checks.items():
            rows = list(
                store.session.execute(
                    f"SELECT ts, TTL({column}) AS ttl FROM {ks}.{table} "
                    "WHERE sensor_id = %s AND day = %s",
                    ("th-1", ten_days_old.date()),
                )
            )
            assert len(rows) == 1, table
            # 20 days left of 30, less the seconds this test took.
            assert 20 * DAY_S - 120 <= rows[0].ttl <= 20 * DAY_S, (table, rows[0].ttl)
        (row,) = store.session.execute(
            f"SELECT TTL(channels) AS ttl FROM {ks}.readings WHERE sensor_id = %s AND day = %s",
            ("th-1", fresh.date()),
        )
        assert 30 * DAY_S - 600 <= row.ttl <= 30 * DAY_S
        assert store.read_readings(["th-1"], too_old - timedelta(days=1), now) != []
        assert store.purge() == {"readings": 0, "scores": 0, "shadow_scores": 0}

        stats = {t.table: t for t in store.stats()}
        assert set(stats) == {"readings", "scores", "shadow_scores"}
        assert stats["readings"].oldest == ten_days_old
        assert stats["readings"].newest == fresh
        assert stats["scores"].oldest == stats["scores"].newest == ten_days_old
        assert stats["shadow_scores"].oldest == ten_days_old
        assert all(t.rows is None and t.bytes_estimated for t in stats.values())
    finally:
        store.close()


def test_stats_of_an_empty_keyspace(cassandra_url: str) -> None:
    store = open_store(cassandra_url, settings=Settings())
    assert isinstance(store, CassandraStore)
    try:
        stats = store.stats()
        assert [t.table for t in stats] == ["readings", "scores", "shadow_scores"]
        assert all(t.oldest is None and t.newest is None for t in stats)
    finally:
        store.close()
