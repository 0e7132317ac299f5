"""The live feed's reading of the stream, on both backends: a tail starts at the end and keeps
no offsets, and the hub fans what is published after a subscriber joined out to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from anyio.to_thread import run_sync

from sensorguard.alerting.live import LiveFilter, LiveHub
from sensorguard.alerting.store import AlertStore
from sensorguard.schemas import Score, utc_now
from sensorguard.stream import ANOMALY_SCORES, Record, Stream, StreamConsumer
from sensorguard.stream.codec import encode_score

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

StreamFactory = Callable[[], Stream]


def _drain(tail: StreamConsumer, want: int, bound_s: float = 20.0) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + bound_s
    while len(got) < want:
        assert time.monotonic() < deadline, f"only {len(got)} of {want} records: {got}"
        got += tail.poll(100, timeout_s=1.0)
    return got


def test_a_tail_reads_only_what_comes_after_it_and_keeps_no_offsets(
    stream_factory: StreamFactory,
) -> None:
    stream = stream_factory()
    stream.publish(ANOMALY_SCORES, [("a", b"before")])
    tail = stream.tail([ANOMALY_SCORES])
    assert tail.poll(100, timeout_s=1.0) == []
    stream.publish(ANOMALY_SCORES, [("a", b"after-1"), ("b", b"after-2")])
    got = _drain(tail, 2)
    assert sorted(r.value for r in got) == [b"after-1", b"after-2"]
    tail.commit(got)
    tail.close()
    again = stream.tail([ANOMALY_SCORES])
    stream.publish(ANOMALY_SCORES, [("a", b"later")])
    assert [r.value for r in _drain(again, 1)] == [b"later"]  # from the end again, not offsets
    again.close()


def test_the_hub_sends_a_subscriber_what_is_published_after_it_joined(
    stream_factory: StreamFactory, tmp_path: Path
) -> None:
    alerts = AlertStore(tmp_path / "metadata.db")
    publisher = stream_factory()
    hub = LiveHub(stream_factory, alerts, lambda sensor_id: "plant-1", poll_s=0.2)
    score = Score(
        sensor_id="th-1",
        ts=utc_now(),
        score=5.5,
        flag=True,
        threshold=4.0,
        model="sensorguard-climate",
        model_version="2",
        kind="spike",
        contributions={"temperature": 1.0},
    )

    async def scenario() -> list[str]:
        sub = hub.subscribe(LiveFilter.parse("plant-1", None))
        assert await run_sync(hub.wait_ready)
        publisher.publish(ANOMALY_SCORES, [("th-1", encode_score(score))])
        batch = await asyncio.wait_for(sub.next(), timeout=30)
        hub.unsubscribe(sub)
        return [f"{s.sensor_id}@{s.site}:{s.score}:{s.kind}" for s in batch.scores]

    try:
        assert asyncio.run(scenario()) == ["th-1@plant-1:5.5:spike"]
    finally:
        hub.close()
        alerts.close()
