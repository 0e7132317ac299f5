"""The whole data path on the real servers: MQTT and HTTP -> Kafka -> writer -> Cassandra."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration_support import Expected, Mosquitto, mqtt_send, read_topic, stored, ts_ms
from pydantic import SecretStr

from sensorguard.auth import Authorizer
from sensorguard.errors import AlreadyExists
from sensorguard.ingest.http import create_app
from sensorguard.ingest.mqtt import MqttBridge, publish_mqtt, sensor_topic
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.ingest.writer import WriterStats, run_writer
from sensorguard.metadata import MetadataStore
from sensorguard.serve_thread import serve_in_thread
from sensorguard.settings import Settings
from sensorguard.simulate import (
    FaultKind,
    Simulation,
    SimulationConfig,
    publish_http,
    simulate_fleet,
)
from sensorguard.store import TimeSeriesStore
from sensorguard.stream import SENSOR_DATA_DLQ, Stream
from sensorguard.stream.codec import decode_dead_letter
from sensorguard.wiring import (
    build_pipeline,
    open_configured_metadata,
    open_configured_store,
    open_configured_stream,
)

pytestmark = pytest.mark.integration

# Small on purpose (2 cores): 6 sensors x half a day at one reading a minute = 4,320 readings,
# with enough out-of-range faults that some rows must be refused.
FLEET = SimulationConfig(
    sensors=6,
    sites=2,
    days=0.5,
    seed=11,
    fault_rate=8.0,
    fault_kinds=(FaultKind.OUT_OF_RANGE, FaultKind.SPIKE, FaultKind.DROPOUT),
)


@dataclass
class World:
    settings: Settings
    metadata: MetadataStore
    stream: Stream
    store: TimeSeriesStore
    pipeline: IngestPipeline
    sim: Simulation
    expected: Expected


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate_fleet(FLEET)


@pytest.fixture
def world(
    tmp_path: Path, kafka_url: str, cassandra_url: str, mosquitto: Mosquitto, sim: Simulation
) -> Iterator[World]:
    # A backfill of half a day in seconds: the per-sensor limits guard live traffic.
    settings = Settings(
        data_dir=tmp_path / "sg",
        stream_url=kafka_url,
        store_url=cassandra_url,
        # The URL's user publishes (the simulator); the bridge logs in as mqtt_username.
        mqtt_url=mosquitto.url,
        mqtt_username="sensorguard-bridge",
        mqtt_password=SecretStr(mosquitto.passwords["sensorguard-bridge"]),
        rate_limit_per_sensor=1e9,
        rate_limit_per_client=1e9,
    )
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(sim.sensors, upsert=True, actor="test")
    stream = open_configured_stream(settings)
    store = open_configured_store(settings)
    yield World(
        settings,
        metadata,
        stream,
        store,
        build_pipeline(settings, metadata, stream),
        sim,
        Expected.of(sim),
    )
    store.close()
    stream.close()
    metadata.close()


def ingest_over_http(world: World, sim: Simulation) -> int:
    """Returns how many readings were accepted, posted with a device key bound to `sim`'s sensors."""
    with contextlib.suppress(AlreadyExists):
        world.metadata.add_user("http-gateway", "device", actor="test")
    _, key = world.metadata.create_api_key(
        "http-gateway", sensors=[s.sensor_id for s in sim.sensors], actor="test"
    )
    app = create_app(world.pipeline, world.settings, Authorizer(world.metadata, world.settings))
    with serve_in_thread(app) as url:
        return publish_http(sim, url, batch_size=500, api_key=key).accepted


def count(world: World) -> int:
    return sum(n for n, _ in stored(world.store, world.sim).values())


def test_a_fleet_over_mqtt_and_http_arrives_complete(world: World) -> None:
    sim, ids = world.sim, [s.sensor_id for s in world.sim.sensors]
    assert world.expected.refused, "the fleet must include rows that validation refuses"
    over_mqtt, over_http = sim.subset(set(ids[:3])), sim.subset(set(ids[3:]))
    first = sim.sensors[0]
    topic = sensor_topic(first.site, first.sensor_id)
    stranger = {"sensor_id": ids[1], "ts": "2026-01-01T00:00:00Z", "channels": {"humidity": 40.0}}

    bridge = MqttBridge(
        world.pipeline,
        world.settings.mqtt_url,
        client_id=f"test-{uuid.uuid4().hex[:8]}",
        settings=world.settings,
    )
    with bridge:
        # One reading per message, like devices publish.
        sent = publish_mqtt(over_mqtt, world.settings.mqtt_url)
        mqtt_send(
            world.settings.mqtt_url,
            topic,
            [b'{"sensor_id": "th-001", "ts": ', json.dumps(stranger).encode()],
        )
        accepted_http = ingest_over_http(world, over_http)
        assert bridge.wait_for(sent.messages + 2, timeout_s=60), bridge.stats
    assert sent.readings == len(over_mqtt.readings)
    assert bridge.stats.malformed == 1 and bridge.stats.mismatched == 1

    writer = run_writer(world.stream, world.store, until_idle_s=2.0)
    assert writer.written == bridge.stats.accepted + accepted_http
    assert stored(world.store, sim) == world.expected.stored

    letters = [decode_dead_letter(r.value) for r in read_topic(world.stream, SENSOR_DATA_DLQ)]
    out_of_range = [lt for lt in letters if lt.field.startswith("channels.")]
    assert {(lt.sensor_id, ts_ms(lt.raw["ts"])) for lt in out_of_range} == world.expected.refused
    door = {s.sensor_id: f"mqtt:{sensor_topic(s.site, s.sensor_id)}" for s in over_mqtt.sensors}
    for letter in out_of_range:
        assert "must be within" in letter.reason
        assert letter.source == door.get(str(letter.sensor_id), "http")
    (malformed,) = [lt for lt in letters if lt.field == "payload"]
    assert "malformed JSON" in malformed.reason and malformed.source == f"mqtt:{topic}"
    (mismatch,) = [lt for lt in letters if lt.field == "sensor_id" and lt.raw == stranger]
    assert ids[0] in mismatch.reason and ids[1] in mismatch.reason


def test_a_replay_leaves_cassandra_unchanged(world: World) -> None:
    accepted = ingest_over_http(world, world.sim)
    run_writer(world.stream, world.store, until_idle_s=2.0)
    before = stored(world.store, world.sim)
    assert before == world.expected.stored

    # The same fleet sent again, and a new writer group replaying the whole topic.
    assert ingest_over_http(world, world.sim) == accepted
    again = run_writer(world.stream, world.store, until_idle_s=2.0)
    replay = run_writer(world.stream, world.store, group="replay", until_idle_s=2.0)
    assert (again.written, replay.written) == (accepted, 2 * accepted)
    assert stored(world.store, world.sim) == before


def test_a_stopped_writer_resumes_from_its_committed_offset(world: World) -> None:
    accepted = ingest_over_http(world, world.sim)
    stop = threading.Event()

    def after_batch(stats: WriterStats) -> None:
        if stats.polled >= 1_000:
            stop.set()

    first = run_writer(world.stream, world.store, batch_size=250, stop=stop, on_batch=after_batch)
    assert 0 < first.polled < accepted
    second = run_writer(world.stream, world.store, batch_size=250, until_idle_s=2.0)
    # Nothing read twice, nothing skipped: the second run starts where the first committed.
    assert first.polled + second.polled == accepted
    assert stored(world.store, world.sim) == world.expected.stored


def test_a_killed_writer_process_loses_nothing(world: World, tmp_path: Path) -> None:
    accepted = ingest_over_http(world, world.sim)
    env = {
        **os.environ,
        "SENSORGUARD_DATA_DIR": str(world.settings.data_dir),
        "SENSORGUARD_STREAM_URL": world.settings.stream_url,
        "SENSORGUARD_STORE_URL": world.settings.store_url,
    }
    cli = str(Path(sys.executable).with_name("sensorguard"))
    # Small batches: the writer is still busy when it gets killed.
    cmd = [cli, "ingest", "run-writer", "--batch-size", "10"]
    victim = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    # Several batches in, so that some were committed: a kill between the first write and its
    # commit would make the restart read from the start, which proves nothing.
    while (at_kill := count(world)) < 50:
        assert victim.poll() is None, victim.communicate()[0].decode()
        assert time.monotonic() < deadline, "the writer stored nothing within 60 s"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # no chance to finish a batch or leave the group
    victim.wait(10)
    assert at_kill < accepted, "killed too late to test anything"

    done = subprocess.run(
        [*cmd, "--until-idle", "3"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    polled = int(done.stdout.split(" from ")[1].split()[0])
    assert polled < accepted  # resumed from the committed offset, not from the start
    assert stored(world.store, world.sim) == world.expected.stored


def test_the_demo_runs_on_the_servers(
    tmp_path: Path, kafka_url: str, cassandra_url: str, mosquitto: Mosquitto
) -> None:
    from rich.console import Console

    from sensorguard.demo import ServiceURLs, run_demo

    servers = ServiceURLs(stream=kafka_url, store=cassandra_url, mqtt=mosquitto.anonymous_url)
    console = Console(file=io.StringIO(), width=120)
    report = run_demo(
        # As `make demo-services` runs it: credentials from services.sh's credentials.env.
        Settings(
            data_dir=tmp_path / "demo",
            mqtt_username="sensorguard-bridge",
            mqtt_password=SecretStr(mosquitto.passwords["sensorguard-bridge"]),
            mqtt_publisher_username="sensorguard-sim",
            mqtt_publisher_password=SecretStr(mosquitto.passwords["sensorguard-sim"]),
        ),
        sensors=3,
        days=0.25,
        fresh=True,
        services=servers,
        train=False,  # the data path is under test here; training has its own tests
        console=console,
    )
    assert report.sent == report.accepted + report.rejected > 0
    assert report.stored == report.accepted and report.lost == 0
    assert "over MQTT and HTTP" in console.file.getvalue()  # type: ignore[attr-defined]
