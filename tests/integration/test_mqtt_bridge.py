"""The MQTT bridge keeps every message the broker acknowledged: restarts, crashes, rate limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from integration_support import Mosquitto, keys_of, mqtt_send, read_topic, wait_for_readings

from sensorguard.errors import BackendUnavailable, ConfigError
from sensorguard.ingest.mqtt import MqttBridge, MqttURL, publish_mqtt, sensor_topic
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, utc_now
from sensorguard.settings import Settings
from sensorguard.simulate import FaultKind, Simulation, SimulationConfig, simulate_fleet
from sensorguard.stream import (
    ALL_TOPICS,
    SENSOR_DATA_DLQ,
    Message,
    Stream,
    StreamConsumer,
    open_stream,
)
from sensorguard.stream.codec import decode_dead_letter
from sensorguard.validation import ReadingValidator, StaticCatalog
from sensorguard.wiring import open_configured_metadata

pytestmark = pytest.mark.integration

# Clean readings only (spikes stay within range): every message must come out on sensor-data.
CLEAN = {"fault_kinds": (FaultKind.SPIKE,), "seed": 5}


def fleet(sensors: int, days: float, *, days_ago: float = 0.0) -> Simulation:
    """Readings up to `days_ago` before now (recent enough for the validator's age check)."""
    start = utc_now().replace(second=0, microsecond=0) - timedelta(days=days + days_ago)
    return simulate_fleet(
        SimulationConfig(sensors=sensors, sites=1, days=days, start=start, **CLEAN)
    )


@dataclass
class Down:
    """A stream that refuses every publish, as Kafka does while it is unreachable."""

    inner: Stream
    attempts: int = 0

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None: ...

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        self.attempts += 1
        raise BackendUnavailable(f"{topic} is down")

    def consumer(self, topics: Sequence[str], group: str) -> StreamConsumer:
        return self.inner.consumer(topics, group)

    def close(self) -> None: ...


@pytest.fixture
def stream(kafka_url: str) -> Iterator[Stream]:
    s = open_stream(kafka_url, partitions=3)
    yield s
    s.close()


def pipeline_for(sim: Simulation, stream: Stream) -> IngestPipeline:
    return IngestPipeline(
        ReadingValidator(StaticCatalog.of(sim.sensors, BUILTIN_SENSOR_TYPES)), stream
    )


def bridge_password_file(tmp_path: Path, broker: Mosquitto) -> Path:
    path = tmp_path / "bridge.password"
    path.write_text(broker.passwords["sensorguard-bridge"] + "\n")
    path.chmod(0o600)
    return path


def bridge_for(
    pipeline: IngestPipeline, broker: Mosquitto, client_id: str, **settings: float
) -> MqttBridge:
    return MqttBridge(
        pipeline,
        broker.bridge_url,
        client_id=client_id,
        settings=Settings(**{"rate_limit_per_sensor": 1e9, **settings}),  # type: ignore[arg-type]
    )


def test_url_parsing() -> None:
    assert MqttURL.parse("mqtt://u:p%40ss@broker:1884") == MqttURL("broker", 1884, "u", "p@ss")
    assert MqttURL.parse("mqtt://broker").port == 1883
    for bad in ("http://broker", "mqtt://", "mqtt://broker:0", "mqtt://broker/topic"):
        with pytest.raises(ConfigError):
            MqttURL.parse(bad)


def test_bridge_survives_a_broker_restart_without_losing_acknowledged_messages(
    mosquitto: Mosquitto, stream: Stream
) -> None:
    sim = fleet(sensors=3, days=0.25)  # 1,080 readings, one message each
    bridge = bridge_for(pipeline_for(sim, stream), mosquitto, f"b-{uuid.uuid4().hex[:8]}")
    failures: list[BaseException] = []

    def publisher() -> None:
        try:
            publish_mqtt(sim, mosquitto.url, rate=300)
        except BaseException as err:  # surfaced by the assertion below
            failures.append(err)

    with bridge:
        sender = threading.Thread(target=publisher)
        sender.start()
        assert bridge.wait_for(150, timeout_s=30)
        mosquitto.stop()  # SIGTERM: the broker saves its sessions and queued messages
        time.sleep(1.0)
        mosquitto.start()
        sender.join(120)
        assert not sender.is_alive() and not failures, failures
        want = keys_of(sim)
        assert wait_for_readings(stream, want) >= want
    assert bridge.stats.connects >= 2  # it really lost the broker and came back


def test_unacknowledged_messages_come_back_to_the_next_bridge(
    mosquitto: Mosquitto, stream: Stream
) -> None:
    sim = fleet(sensors=2, days=0.1)
    client_id = f"b-{uuid.uuid4().hex[:8]}"
    down = Down(stream)
    crashed = bridge_for(pipeline_for(sim, down), mosquitto, client_id)
    with crashed:
        publish_mqtt(sim, mosquitto.url)
        deadline = time.monotonic() + 30
        while down.attempts < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    # It received messages, failed to publish them and so acknowledged none.
    assert down.attempts >= 2 and crashed.stats.messages == 0

    later = fleet(sensors=2, days=0.2, days_ago=0.5)  # other readings, sent while none runs
    assert not keys_of(sim) & keys_of(later)
    publish_mqtt(later, mosquitto.url)
    with bridge_for(pipeline_for(sim, stream), mosquitto, client_id) as bridge:
        want = keys_of(sim) | keys_of(later)
        assert wait_for_readings(stream, want) >= want
    assert bridge.stats.publish_retries == 0


def test_a_rate_limited_sensor_has_its_excess_dead_lettered_not_dropped(
    mosquitto: Mosquitto, stream: Stream
) -> None:
    sim = fleet(sensors=1, days=0.2)  # 288 readings of one sensor, sent as fast as possible
    # 5 readings/s with a bucket of 10, and a buffer of 2 between network and publisher: the
    # excess does not hang on how fast the publisher is (at 150/s a loaded machine's slow
    # QoS 1 publishing once stayed under the limit and nothing was limited).
    bridge = bridge_for(
        pipeline_for(sim, stream),
        mosquitto,
        f"b-{uuid.uuid4().hex[:8]}",
        rate_limit_per_sensor=5,
        rate_limit_burst_s=2.0,
        mqtt_buffer=2,
    )
    with bridge:
        sent = publish_mqtt(sim, mosquitto.url)
        assert bridge.wait_for(sent.messages, timeout_s=60)
    stats = bridge.stats
    assert stats.rate_limited > 0
    # Every reading is either on sensor-data or in the DLQ with its reason: none is lost.
    assert stats.accepted + stats.rate_limited == len(sim.readings)
    letters = [decode_dead_letter(r.value) for r in read_topic(stream, SENSOR_DATA_DLQ)]
    assert len(letters) == stats.rate_limited
    assert all(lt.field == "rate" and lt.reason.startswith("rate limited") for lt in letters)


def test_the_cli_bridge_runs_until_sigterm(
    tmp_path: Path, mosquitto: Mosquitto, kafka_url: str, stream: Stream
) -> None:
    sim = fleet(sensors=2, days=0.05)
    env = {
        **os.environ,
        "SENSORGUARD_DATA_DIR": str(tmp_path / "sg"),
        "SENSORGUARD_STREAM_URL": kafka_url,
        "SENSORGUARD_MQTT_URL": mosquitto.anonymous_url,
        # The CLI bridge logs in with the settings' credentials, its password from a file.
        "SENSORGUARD_MQTT_USERNAME": "sensorguard-bridge",
        "SENSORGUARD_MQTT_PASSWORD_FILE": str(bridge_password_file(tmp_path, mosquitto)),
        "SENSORGUARD_MQTT_CLIENT_ID": f"cli-{uuid.uuid4().hex[:8]}",
    }
    metadata: MetadataStore = open_configured_metadata(Settings(data_dir=tmp_path / "sg"))
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(sim.sensors, upsert=True, actor="test")
    metadata.close()
    log = tmp_path / "bridge.log"
    cli = str(Path(sys.executable).with_name("sensorguard"))
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [cli, "ingest", "mqtt"], env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        deadline = time.monotonic() + 30
        while "connected to" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        sent = publish_mqtt(sim, mosquitto.url)
        first = sim.sensors[0]
        mqtt_send(mosquitto.url, sensor_topic(first.site, first.sensor_id), [b"not json"])
        want = keys_of(sim)
        assert wait_for_readings(stream, want) >= want
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, log.read_text()
    # Every message is acknowledged once published; the malformed one was dead-lettered.
    assert f"acknowledged {sent.messages + 1} messages" in out
    assert "1 malformed" in out
