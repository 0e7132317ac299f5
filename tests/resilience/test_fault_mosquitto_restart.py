"""Mosquitto restarted under QoS 1 publishing: every reading reaches Kafka and the store once.

A fleet publishes one reading per message (QoS 1) to the private Mosquitto; the MQTT bridge
(sensorguard.ingest.mqtt, persistent session, manual PUBACK after the Kafka publish) moves
them into the private Kafka. Mosquitto is restarted mid-stream (SIGTERM, which saves its
sessions and queued messages, then started again); the publisher resends what it had not had
acknowledged, the broker redelivers what the bridge had not acknowledged.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from fault_support import (
    Background,
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
from pydantic import SecretStr

from integration.integration_support import wait_for_readings
from sensorguard.ingest.mqtt import MqttBridge, publish_mqtt
from sensorguard.ingest.writer import run_writer
from sensorguard.settings import Settings
from sensorguard.stream import SENSOR_DATA
from sensorguard.wiring import build_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_mosquitto_restarted_during_publishing_loses_and_doubles_nothing(
    private_servers: PrivateServers, kafka_url: str, cassandra_url: str, data_dir: Path
) -> None:
    began = time.monotonic()
    sim = fleet(sensors=6, hours=12, seed=33)  # 4,320 readings, one per message
    sent = sent_identities(sim)
    settings = Settings(
        data_dir=data_dir,
        stream_url=kafka_url,
        store_url=cassandra_url,
        # As services.sh's credentials.env says: the bridge reads, the simulator writes.
        mqtt_url=private_servers.mqtt_url("sensorguard-sim"),
        mqtt_username="sensorguard-bridge",
        mqtt_password=SecretStr(private_servers.mqtt_password("sensorguard-bridge")),
        rate_limit_per_sensor=1e9,
        rate_limit_per_client=1e9,
    )
    world = open_world(settings, sim)
    bridge = MqttBridge(
        build_pipeline(settings, world.metadata, world.stream),
        settings.mqtt_url,
        client_id=f"fault-bridge-{uuid.uuid4().hex[:8]}",
        settings=settings,
    )
    try:
        with bridge:
            publisher = Background(
                "MQTT publisher",
                lambda: publish_mqtt(sim, settings.mqtt_url, rate=200, give_up_after_s=120),
            )
            wait_until(lambda: bridge.stats.messages >= len(sent) // 4, 60, "a quarter bridged")
            bridged_before = bridge.stats.messages
            restart_s = private_servers.restart("mosquitto")
            published = publisher.result(180)
            assert published.messages == len(sent)
            seen = wait_for_readings(world.stream, set(sent), timeout_s=120)
            assert sent <= seen, f"{len(sent - seen)} readings never reached {SENSOR_DATA}"
        stats = bridge.stats
        written = run_writer(world.stream, world.store, until_idle_s=3.0)
        on_topic, stored = topic_readings(world.stream, SENSOR_DATA), world.stored()
    finally:
        world.close()

    report(
        "mosquitto-restart",
        sent=len(sent),
        bridged_before_restart=bridged_before,
        bridge_acked=stats.messages,
        bridge_accepted=stats.accepted,
        bridge_connects=stats.connects,
        topic=str(on_topic),
        writer_written=written.written,
        stored=stored,
        mosquitto_restart_s=round(restart_s, 1),
        duration_s=round(time.monotonic() - began, 1),
    )
    assert bridged_before < len(sent), "restarted after everything was bridged: proves nothing"
    assert stats.connects >= 2, "the bridge never reconnected: the restart did not hit it"
    # Kafka at least once (a message the bridge published but had not acknowledged when the
    # broker went down is redelivered and published again) ...
    assert_at_least_once(sent, SENSOR_DATA, on_topic)
    # ... the store exactly once.
    assert_exactly(sent, "readings in Cassandra", stored)
