"""The broker's own guard, as services.sh configures it: logins, and devices on their own topic.

Against a private Mosquitto with infra/local/mosquitto/acl. MQTT 3.1.1 (what the bridge and
devices speak) cannot tell a publisher its message was denied: Mosquitto 2 acknowledges a QoS 1
publish anyway and drops it, so the tests assert what matters, that it never reaches the bridge.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from integration_support import Mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from sensorguard.ingest.mqtt import MqttURL, sensor_topic

pytestmark = pytest.mark.integration

QUIET_S = 1.5  # how long a dropped message is waited for (it arrives in ms when allowed)


def connect(url: str, timeout_s: float = 5.0) -> tuple[paho.Client, Any]:
    """A started client and the broker's CONNACK reason (a failure: the client is stopped)."""
    target = MqttURL.parse(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-{uuid.uuid4().hex[:8]}")
    if target.username:
        client.username_pw_set(target.username, target.password)
    answered: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: answered.put(reason)
    client.connect(target.host, target.port)
    client.loop_start()
    reason = answered.get(timeout=timeout_s)
    if reason.is_failure:
        client.disconnect()
        client.loop_stop()
    return client, reason


class Inbox:
    """What the bridge's user receives on sensors/#."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        subscribed = threading.Event()
        self.client, reason = connect(broker.bridge_url)
        assert not reason.is_failure, reason
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.subscribe("sensors/#", qos=1)
        assert subscribed.wait(5), "the bridge user could not subscribe to sensors/#"

    def next(self, timeout_s: float) -> tuple[str, bytes] | None:
        try:
            return self.messages.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def inbox(mosquitto: Mosquitto) -> Iterator[Inbox]:
    mosquitto.stop()
    # Users are read at start-up: add the device first, then (re)start.
    mosquitto.add_device("th-001")
    mosquitto.add_device("th-002")
    mosquitto.start()
    box = Inbox(mosquitto)
    yield box
    box.close()


def publish(url: str, topic: str, payload: bytes) -> bool:
    """Publish at QoS 1; whether the broker acknowledged it."""
    client, reason = connect(url)
    assert not reason.is_failure, reason
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        return info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_device_publishes_its_own_topic_only(mosquitto: Mosquitto, inbox: Inbox) -> None:
    own = sensor_topic("site-a", "th-001")
    other = sensor_topic("site-a", "th-002")
    device = mosquitto.url_as("th-001")
    assert publish(device, own, b"mine")
    assert inbox.next(5) == (own, b"mine")

    # Acknowledged (MQTT 3.1.1 has no refusal to send) but dropped by the broker...
    assert publish(device, other, b"forged")
    assert inbox.next(QUIET_S) is None
    # ...while the same device's next own message still arrives: the inbox was listening.
    assert publish(device, own, b"again")
    assert inbox.next(5) == (own, b"again")
    # Outside the topic layout, nothing is writable either.
    assert publish(device, "sensors/th-001", b"short")
    assert publish(device, "alerts/all", b"elsewhere")
    assert inbox.next(QUIET_S) is None


def test_the_bridge_user_cannot_publish_and_the_simulator_may_write_any_sensor(
    mosquitto: Mosquitto, inbox: Inbox
) -> None:
    topic = sensor_topic("site-b", "th-002")
    assert publish(mosquitto.bridge_url, topic, b"from the bridge")
    assert inbox.next(QUIET_S) is None
    assert publish(mosquitto.url, topic, b"from the gateway")
    assert inbox.next(5) == (topic, b"from the gateway")


def test_anonymous_and_wrong_passwords_are_refused(mosquitto: Mosquitto) -> None:
    started = time.monotonic()
    _, anonymous = connect(mosquitto.anonymous_url)
    assert anonymous.is_failure and "authori" in str(anonymous).lower()
    _, wrong = connect(mosquitto.url_as("sensorguard-bridge", "not-the-password"))
    assert wrong.is_failure
    assert time.monotonic() - started < 10
