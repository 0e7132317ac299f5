"""The real servers of `make test`: where they listen, and fresh namespaces on them per test.

A server that is not reachable fails the test: CI must have every server, so a skip would hide
a broken setup.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

KAFKA = os.environ.get("SENSORGUARD_TEST_KAFKA", "127.0.0.1:9092")
CASSANDRA = os.environ.get("SENSORGUARD_TEST_CASSANDRA", "127.0.0.1:9042")
MQTT = os.environ.get("SENSORGUARD_TEST_MQTT", "127.0.0.1:1883")


def require_server(name: str, hostport: str) -> None:
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as err:
        pytest.fail(
            f"{name} is not reachable at {hostport} ({err}); start the servers with "
            "`make services-up` (logs under .services/run/)"
        )


def run_id() -> str:
    return uuid.uuid4().hex[:10]


STORE_BACKENDS = ["sqlite", pytest.param("cassandra", marks=pytest.mark.integration)]
STREAM_BACKENDS = ["sqlite", pytest.param("kafka", marks=pytest.mark.integration)]


def store_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    require_server("Cassandra", CASSANDRA)
    return f"cassandra://{CASSANDRA}/sg_test_{run_id()}"


def stream_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'stream.db'}"
    require_server("Kafka", KAFKA)
    # A fresh topic namespace per test keeps Kafka's shared topics from leaking between tests.
    return f"kafka://{KAFKA}/?namespace=t{run_id()}"


def drop_keyspace(url: str) -> None:
    """Remove a test keyspace (Cassandra only; other URLs are left alone)."""
    if not url.startswith("cassandra://"):
        return
    from sensorguard.store.cassandra import CassandraStore

    store = CassandraStore.from_url(url)
    try:
        store.session.execute(f"DROP KEYSPACE IF EXISTS {store.keyspace}")
    finally:
        store.close()


def delete_topics(url: str) -> None:
    """Remove a test namespace's topics (Kafka only)."""
    if not url.startswith("kafka://"):
        return
    from sensorguard.stream.kafka import KafkaStream

    stream = KafkaStream.from_url(url)
    try:
        stream.delete_topics()
    finally:
        stream.close()
