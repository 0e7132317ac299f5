"""Consumer lag, as both stream backends measure it: publish N, consume and commit k, N - k.

On Kafka the numbers come from the broker (the group's committed offsets and the partitions'
end offsets, through the admin client), with the group namespaced as the consumer's is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.rules import parse_rule
from sensorguard.alerting.store import AlertStore
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import utc_now
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA, Record, Stream

pytestmark = pytest.mark.integration

StreamFactory = Callable[[], Stream]
N = 60


def publish(stream: Stream, n: int = N) -> None:
    stream.publish(SENSOR_DATA, [(f"th-{i % 7}", f"{i}".encode()) for i in range(n)])


def consume_and_commit(stream: Stream, group: str, k: int) -> None:
    """Read the first k records the group is given and commit exactly those."""
    consumer = stream.consumer([SENSOR_DATA], group)
    got: list[Record] = []
    try:
        while len(got) < k:
            batch = consumer.poll(k - len(got), timeout_s=5.0)
            assert batch, f"only {len(got)} of {k} records arrived"
            got += batch
        # A prefix of what arrived is a prefix of every partition: committing it leaves
        # exactly the rest behind.
        consumer.commit(got[:k])
    finally:
        consumer.close()


@pytest.mark.parametrize("k", [0, 1, 25, N])
def test_lag_is_published_less_committed(stream_factory: StreamFactory, k: int) -> None:
    stream = stream_factory()
    publish(stream)
    if k:
        consume_and_commit(stream, "lag-test", k)
    lag = stream.lag("lag-test", [SENSOR_DATA])
    assert {topic for topic, _ in lag} == {SENSOR_DATA}  # logical names, not namespaced
    assert len(lag) == 3 and all(n >= 0 for n in lag.values())
    assert sum(lag.values()) == N - k


def test_lag_is_per_group_and_survives_a_reopened_stream(stream_factory: StreamFactory) -> None:
    first = stream_factory()
    publish(first)
    consume_and_commit(first, "fast", N)
    consume_and_commit(first, "slow", 10)
    again = stream_factory()
    assert sum(again.lag("fast", [SENSOR_DATA]).values()) == 0
    assert sum(again.lag("slow", [SENSOR_DATA]).values()) == N - 10
    # Several topics: an empty one adds nothing.
    both = again.lag("slow", [SENSOR_DATA, ANOMALY_SCORES])
    assert sum(n for (t, _), n in both.items() if t == ANOMALY_SCORES) == 0
    assert sum(both.values()) == N - 10


def test_a_consumer_lag_rule_fires_on_the_real_lag(
    stream_factory: StreamFactory, tmp_path: Path
) -> None:
    stream = stream_factory()
    publish(stream)
    consume_and_commit(stream, "store-writer", 20)
    metadata = MetadataStore(tmp_path / "metadata.db")
    alerts = AlertStore(metadata.path)
    rule = parse_rule(
        {
            "name": "writer-lagging",
            "condition": {
                "type": "consumer_lag",
                "group": "store-writer",
                "topics": [SENSOR_DATA],
                "max_records": 30,
            },
        },
        source="test",
    )
    try:
        engine = AlertEngine([rule], alerts, metadata)
        (opened,) = engine.tick(utc_now(), lags=stream)
        assert opened.alert.sensor_id == "consumer-group/store-writer"
        assert opened.alert.score == N - 20
        consume_and_commit(stream, "store-writer", N - 20)
        (resolved,) = engine.tick(utc_now(), lags=stream)
        assert resolved.change == "resolved"
    finally:
        alerts.close()
        metadata.close()
