"""Kafka SIGKILLed under a sustained HTTP ingest, then restarted: every acknowledged reading is
stored once.

The HTTP ingest app publishes to the private Kafka while the store writer consumes from it;
the broker is killed with SIGKILL mid-ingest and restarted from its own data dir. The client
(the simulator's publisher) resends every batch that was not answered 200, as a device would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fault_support import (
    Background,
    CountingTransport,
    PrivateServers,
    assert_at_least_once,
    assert_exactly,
    fleet,
    open_world,
    report,
    sent_identities,
    topic_readings,
    wait_until,
)

from sensorguard.auth import Authorizer
from sensorguard.ingest.http import create_app
from sensorguard.ingest.writer import run_writer
from sensorguard.serve_thread import serve_in_thread
from sensorguard.settings import Settings
from sensorguard.simulate import RetryPolicy, publish_http
from sensorguard.stream import SENSOR_DATA
from sensorguard.wiring import build_pipeline, open_configured_store, open_configured_stream

pytestmark = [pytest.mark.integration, pytest.mark.faults]

BATCH = 100  # readings per POST


def test_kafka_killed_during_http_ingest_loses_and_doubles_nothing(
    private_servers: PrivateServers,
    kafka_url: str,
    cassandra_url: str,
    data_dir: Path,
) -> None:
    began = time.monotonic()
    sim = fleet(sensors=6, hours=12, seed=31)  # 4,320 readings
    sent = sent_identities(sim)
    settings = Settings(
        data_dir=data_dir,
        stream_url=kafka_url,
        store_url=cassandra_url,
        rate_limit_per_sensor=1e9,
        rate_limit_per_client=1e9,
        # A publish the dead broker cannot acknowledge is answered 503 after 5 s, not 30
        # (this Settings reaches the Kafka clients: open_configured_stream passes it on).
        kafka_publish_timeout_s=5,
    )
    world = open_world(settings, sim)
    world.metadata.add_user("http-gateway", "device", actor="test")
    _, key = world.metadata.create_api_key(
        "http-gateway", sensors=[s.sensor_id for s in sim.sensors], actor="test"
    )
    app = create_app(
        build_pipeline(settings, world.metadata, world.stream),
        settings,
        Authorizer(world.metadata, settings),
    )
    writer_stream, writer_store = open_configured_stream(settings), open_configured_store(settings)
    stop = threading.Event()
    writer = Background(
        "store writer",
        lambda: run_writer(
            writer_stream, writer_store, batch_size=200, stop=stop, max_backoff_s=1.0
        ),
    )
    try:
        with serve_in_thread(app) as url:
            transport = CountingTransport()
            publisher = Background(
                "HTTP publisher",
                lambda: publish_http(
                    sim,
                    url,
                    rate=250,
                    batch_size=BATCH,
                    api_key=key,
                    retry=RetryPolicy(base_s=0.2, cap_s=2.0, give_up_after_s=180),
                    transport=transport,
                ),
            )
            # A quarter in: batches are being posted, published and written all the while.
            batches = len(sent) // BATCH
            wait_until(lambda: transport.answers[200] >= batches // 4, 60, "a quarter posted")
            stored_at_kill = world.stored().total
            posted_at_kill = transport.answers[200] * BATCH
            private_servers.kill("kafka")
            # Down until ingest has refused a POST: a publish the broker cannot acknowledge
            # fails after kafka_publish_timeout_s (503, "retry later"), it does not hang.
            wait_until(lambda: transport.answers[503] > 0, 30, "a POST answered 503")
            restart_s = private_servers.services("up", "kafka")
            posted = publisher.result(240)
        assert posted_at_kill < len(sent), "killed after everything was posted: proves nothing"
        assert posted.accepted == len(sent), posted

        def all_stored() -> bool:
            writer.check()
            return len(world.stored().distinct) >= len(sent)

        wait_until(all_stored, 120, f"the writer to store all {len(sent)} readings")
        stop.set()
        written = writer.result(60)
        on_topic, stored = topic_readings(world.stream, SENSOR_DATA), world.stored()
    finally:
        stop.set()
        writer_store.close()
        writer_stream.close()
        world.close()

    report(
        "kafka-kill-9",
        sent=len(sent),
        accepted=posted.accepted,
        post_retries=posted.retries,
        posted_at_kill=posted_at_kill,
        stored_at_kill=stored_at_kill,
        answers=dict(transport.answers),
        topic=str(on_topic),
        writer_written=written.written,
        writer_retries=written.retries,
        stored=stored,
        kafka_restart_s=round(restart_s, 1),
        duration_s=round(time.monotonic() - began, 1),
    )
    # On the topic at least once (a POST retried after a lost answer is published again) ...
    assert_at_least_once(sent, SENSOR_DATA, on_topic)
    # ... and in the store exactly once: the upsert by (sensor_id, ts) absorbs the repeats.
    assert_exactly(sent, "readings in Cassandra", stored)
