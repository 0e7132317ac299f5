"""Every store backend keeps the same contract: idempotent upserts, half-open ordered ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sensorguard.schemas import Reading, Score
from sensorguard.store import TimeSeriesStore

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # spans midnight: two day buckets in Cassandra


def readings(sensor: str, n: int, *, bias: float = 0.0) -> list[Reading]:
    return [
        Reading(
            sensor_id=sensor,
            ts=T0 + timedelta(minutes=i * 3),
            channels={"temperature": 20 + i / 10 + bias, "humidity": 40.5},
            seq=i,
        )
        for i in range(n)
    ]


def test_replayed_batch_leaves_the_same_rows(store: TimeSeriesStore) -> None:
    batch = readings("th-1", 50)
    store.write_readings(batch)
    store.write_readings(batch)
    store.write_readings(batch[10:30])
    got = store.read_readings(["th-1"], T0, T0 + timedelta(days=1))
    assert got == batch


def test_upsert_keeps_the_latest_version_of_a_reading(store: TimeSeriesStore) -> None:
    store.write_readings(readings("th-1", 5))
    corrected = readings("th-1", 5, bias=1.0)
    store.write_readings(corrected)
    assert store.read_readings(["th-1"], T0, T0 + timedelta(hours=1)) == corrected


def test_range_is_half_open_ordered_and_per_sensor(store: TimeSeriesStore) -> None:
    a, b = readings("th-a", 40), readings("th-b", 40)
    store.write_readings(b + a)
    start, end = a[5].ts, a[25].ts
    got = store.read_readings(["th-b", "th-a"], start, end)
    assert got == a[5:25] + b[5:25]
    assert store.read_readings(["th-c"], start, end) == []


def test_latest_readings_are_the_newest_before_the_end_in_time_order(
    store: TimeSeriesStore,
) -> None:
    a = readings("th-a", 60)  # 3 h from 23:00: across midnight
    store.write_readings(a + readings("th-b", 60))
    end = a[50].ts
    assert store.read_latest("th-a", T0, end, 30) == a[20:50]  # crosses the day boundary
    assert store.read_latest("th-a", T0, end, 500) == a[:50]
    assert store.read_latest("th-a", a[45].ts, end, 30) == a[45:50]  # the start bounds it
    assert store.read_latest("th-c", T0, end, 10) == []


def test_scores_round_trip(store: TimeSeriesStore) -> None:
    scores = [
        Score(
            sensor_id="th-1",
            ts=r.ts,
            score=i / 7,
            flag=i % 7 == 0,
            threshold=0.5,
            model="m",
            model_version="3",
        )
        for i, r in enumerate(readings("th-1", 30))
    ]
    store.write_scores(scores)
    store.write_scores(scores)
    assert store.read_scores(["th-1"], T0, T0 + timedelta(days=1)) == scores
