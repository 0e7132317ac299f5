"""Backends for contract tests: the embedded ones always, the real servers under `integration`.

The real servers are started once per `make test` run by infra/local/services.sh. A server that
is not reachable fails the test: CI must have every server, so a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import Mosquitto

from sensorguard.store import TimeSeriesStore, open_store
from sensorguard.stream import Stream, open_stream

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


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    url = store_url(request.param, tmp_path)
    s = open_store(url)
    yield s
    s.close()
    drop_keyspace(url)


@pytest.fixture(params=STREAM_BACKENDS)
def stream_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Opens the same stream again (as a restarted process would)."""
    url = stream_url(request.param, tmp_path)
    opened: list[Stream] = []

    def factory() -> Stream:
        s = open_stream(url, partitions=3)
        opened.append(s)
        return s

    yield factory
    for s in opened:
        s.close()
    delete_topics(url)


@pytest.fixture
def kafka_url() -> Iterator[str]:
    """A Kafka URL with a namespace of its own; its topics are deleted afterwards."""
    url = stream_url("kafka", Path())
    yield url
    delete_topics(url)


@pytest.fixture
def cassandra_url() -> Iterator[str]:
    """A Cassandra URL with a keyspace of its own; it is dropped afterwards."""
    url = store_url("cassandra", Path())
    yield url
    drop_keyspace(url)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3 loads its protocol schemas with an importlib API that warns on 3.11.
    config.addinivalue_line(
        "filterwarnings", "ignore:.*is deprecated. Use files\\(\\) instead:DeprecationWarning"
    )
