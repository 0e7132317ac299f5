"""Backends for contract tests: the embedded ones always, the real servers under `integration`.

The real servers are started once per `make test` run by infra/local/services.sh. A server that
is not reachable fails the test: CI must have every server, so a skip would hide a broken setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import Mosquitto

from sensorguard.store import TimeSeriesStore, open_store
from sensorguard.stream import Stream, open_stream
from servers import (
    STORE_BACKENDS,
    STREAM_BACKENDS,
    delete_topics,
    drop_keyspace,
    store_url,
    stream_url,
)


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
