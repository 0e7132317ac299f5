"""What the Kafka stream promises beyond the shared contract: topics, producer safety, errors."""

from __future__ import annotations

import pytest
from integration_support import free_port
from kafka.admin import KafkaAdminClient

from sensorguard.errors import BackendUnavailable, ConfigError
from sensorguard.settings import Settings
from sensorguard.stream import ALL_TOPICS, SENSOR_DATA, open_stream
from sensorguard.stream.kafka import KafkaStream, KafkaURL

pytestmark = pytest.mark.integration


def test_url_names_brokers_and_an_optional_namespace() -> None:
    parsed = KafkaURL.parse("kafka://k1:9092,k2:9093/?namespace=t-1")
    assert parsed == KafkaURL(("k1:9092", "k2:9093"), "t-1")
    assert KafkaURL.parse("kafka://k1:9092").namespace is None
    for bad in (
        "kafka://",
        "kafka://k1",
        "kafka://k1:9092/?ns=x",
        "kafka://k1:9092/?namespace=a/b",
    ):
        with pytest.raises(ConfigError):
            KafkaURL.parse(bad)


def test_topics_are_created_once_with_the_configured_partitions(kafka_url: str) -> None:
    stream = open_stream(kafka_url, partitions=4)
    stream.ensure_topics()  # a second time: topics that exist are fine
    assert isinstance(stream, KafkaStream)
    admin = KafkaAdminClient(bootstrap_servers=stream.bootstrap)
    try:
        described = {
            t["name"]: t for t in admin.describe_topics([stream.physical(t) for t in ALL_TOPICS])
        }
    finally:
        admin.close()
    assert sorted(described) == sorted(f"{stream.namespace}.{t}" for t in ALL_TOPICS)
    assert {len(t["partitions"]) for t in described.values()} == {4}
    stream.close()


def test_producer_keeps_idempotence_and_acks_all(kafka_url: str) -> None:
    stream = open_stream(kafka_url, partitions=2)
    assert isinstance(stream, KafkaStream)
    stream.publish(SENSOR_DATA, [("th-1", b"x")])
    config = stream._producer_client().config
    # kafka-python turns idempotence off without failing when settings conflict with it.
    assert config["enable_idempotence"] is True
    assert config["acks"] == -1
    stream.close()


def test_unreachable_broker_is_reported_with_its_address() -> None:
    port = free_port()  # nothing listens there
    stream = KafkaStream.from_url(f"kafka://127.0.0.1:{port}", connect_timeout_s=1.0)
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        stream.ensure_topics()
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        stream.publish(SENSOR_DATA, [("th-1", b"x")])
    stream.close()


def test_publish_to_a_missing_topic_fails_naming_it(kafka_url: str) -> None:
    # Auto-creation is off on the broker: a topic nobody created cannot swallow messages.
    stream = KafkaStream.from_url(kafka_url, settings=Settings(kafka_publish_timeout_s=1.0))
    with pytest.raises(BackendUnavailable, match=f"{stream.namespace}.sensor-data"):
        stream.publish(SENSOR_DATA, [("th-1", b"x")])
    stream.close()
