"""Cassandra restarted while the store writer writes into it: every reading is stored once.

Readings flow through the ingest pipeline into the private Kafka at a steady rate; the store
writer (sensorguard.ingest.writer) moves them into the private Cassandra, which is restarted
(SIGTERM, as `services.sh down`, then `up`) mid-stream. The writer must retry the batches the
dead store refused and commit offsets only after a write succeeded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fault_support import (
    Background,
    PrivateServers,
    assert_at_least_once,
    assert_exactly,
    fleet,
    open_world,
    publish_paced,
    report,
    sent_identities,
    topic_readings,
    wait_until,
)

from sensorguard.ingest.writer import WriterStats, run_writer
from sensorguard.settings import Settings
from sensorguard.stream import SENSOR_DATA
from sensorguard.wiring import build_pipeline, open_configured_store, open_configured_stream

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_cassandra_restarted_during_writes_loses_and_doubles_nothing(
    private_servers: PrivateServers, kafka_url: str, cassandra_url: str, data_dir: Path
) -> None:
    began = time.monotonic()
    sim = fleet(sensors=6, hours=12, seed=32)  # 4,320 readings
    sent = sent_identities(sim)
    settings = Settings(data_dir=data_dir, stream_url=kafka_url, store_url=cassandra_url)
    world = open_world(settings, sim)
    pipeline = build_pipeline(settings, world.metadata, world.stream)
    writer_stream, writer_store = open_configured_stream(settings), open_configured_store(settings)
    stop = threading.Event()
    progress: list[WriterStats] = []
    writer = Background(
        "store writer",
        lambda: run_writer(
            writer_stream,
            writer_store,
            batch_size=100,
            stop=stop,
            max_backoff_s=2.0,
            on_batch=lambda stats: progress.append(stats),
        ),
    )
    try:
        # About 30 s of steady traffic, so the writer has readings to write while the store
        # is down (the restart takes longer than that on two cores, the backlog grows).
        publisher = Background(
            "publisher", lambda: publish_paced(pipeline, sim, rate=150, batch=50)
        )
        wait_until(lambda: world.stored().total >= len(sent) // 5, 60, "a fifth stored")
        stored_before = world.stored().total
        restart_s = private_servers.restart("cassandra")
        restarted_at = time.monotonic()
        accepted = publisher.result(180)
        assert accepted == len(sent)

        def all_stored() -> bool:
            writer.check()
            return world.stored_at_least(len(sent))

        wait_until(all_stored, 180, f"the writer to store all {len(sent)} readings")
        caught_up_s = time.monotonic() - restarted_at
        stop.set()
        written = writer.result(60)
        on_topic, stored = topic_readings(world.stream, SENSOR_DATA), world.stored()
    finally:
        stop.set()
        writer_store.close()
        writer_stream.close()
        world.close()

    report(
        "cassandra-restart",
        sent=len(sent),
        stored_before_restart=stored_before,
        topic=str(on_topic),
        writer_polled=written.polled,
        writer_written=written.written,
        writer_retries=written.retries,
        stored=stored,
        cassandra_restart_s=round(restart_s, 1),
        caught_up_after_s=round(caught_up_s, 1),
        duration_s=round(time.monotonic() - began, 1),
    )
    assert stored_before < len(sent), "restarted after everything was stored: proves nothing"
    assert written.retries > 0, "no store write failed: the restart did not hit the writer"
    assert_at_least_once(sent, SENSOR_DATA, on_topic)
    assert_exactly(sent, "readings in Cassandra", stored)
