"""Private Kafka, Cassandra and Mosquitto for the fault tests, started once per session.

These tests kill and restart servers, so they never use the shared ones of `make test`: they
start their own through infra/local/services.sh (own run dir, own ports). A server that does
not start fails the tests, never skips them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import SERVERS, SHARED_PORTS, PrivateServers, Trained, listeners

from model.model_helpers import trained_climate

LIVE_HOURS = 8  # the last hours of the fleet are scored live; training ends before them


@pytest.fixture(scope="session")
def private_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServers]:
    shared = {port: listeners(port) for port in SHARED_PORTS}
    servers = PrivateServers(tmp_path_factory.mktemp("private-servers"))
    try:
        servers.services("up", *SERVERS)
        yield servers
    finally:
        servers.services("down", *SERVERS)
    # Whatever served the shared ports before still does: the faults stayed private.
    after = {port: listeners(port) for port in SHARED_PORTS}
    assert after == shared, (
        f"the shared servers' pids changed during the fault tests ({shared} -> {after}): "
        "did something restart them, or did services.sh stop one from the private run dir?"
    )


@pytest.fixture
def kafka_url(private_servers: PrivateServers) -> str:
    """A namespace of its own on the private Kafka (the broker is wiped with the session)."""
    return f"kafka://{private_servers.kafka}/?namespace=f{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cassandra_url(private_servers: PrivateServers) -> str:
    """A keyspace of its own on the private Cassandra (wiped with the session)."""
    return f"cassandra://{private_servers.cassandra}/sg_fault_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "sg"


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """As the serving tests' platform (tests/serving/conftest.py): trained on all but the last
    hours, which are the readings the stream scorer scores."""
    from sensorguard.wiring import open_configured_store

    root = tmp_path_factory.mktemp("trained")
    settings, sim, until = trained_climate(root / "sg", live_hours=LIVE_HOURS)
    store = open_configured_store(settings)
    try:
        live = store.read_readings([s.sensor_id for s in sim.sensors], until, sim.end)
    finally:
        store.close()
    return Trained(settings, sim, live)
