"""Helpers the integration tests share: a private Mosquitto, ports, fleet checksums."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sensorguard.ingest.mqtt import MqttURL
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, SensorType
from sensorguard.simulate import Simulation
from sensorguard.store import TimeSeriesStore
from sensorguard.store.sqlite import to_ms
from sensorguard.stream import SENSOR_DATA, Record, Stream
from sensorguard.stream.codec import decode_reading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ACL_FILE = Path(__file__).resolve().parents[2] / "infra" / "local" / "mosquitto" / "acl"
BRIDGE_USER = "sensorguard-bridge"
PUBLISHER_USER = "sensorguard-sim"


class Mosquitto:
    """A private Mosquitto on its own port, restartable without disturbing the shared one.

    Like a production broker (and unlike mosquitto's default of 1000) it queues without limit
    for a persistent session, so a bridge that falls behind is slowed down, not robbed. Like
    the one services.sh runs, it admits no anonymous client and applies infra/local's ACL:
    `bridge_url` logs in as the bridge (reads sensors/#), `url` as the simulator (writes
    sensors/#); `add_device(sensor_id)` makes a device user (writes its own topic only).
    """

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if binary is None:
            pytest.fail("mosquitto is not installed; run `make services-fetch`")
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "mosquitto.conf"
        # As root, mosquitto would switch to user "mosquitto", who cannot write tmp_path.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.passwd = self.dir / "passwd"
        self.passwords: dict[str, str] = {}
        self.passwd.touch(mode=0o600)
        for name in (BRIDGE_USER, PUBLISHER_USER):
            self.add_user(name)
        self.config.write_text(
            f"{user}listener {self.port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {self.passwd}\nacl_file {ACL_FILE}\n"
            f"persistence true\npersistence_location {self.dir}/\n"
            "max_queued_messages 0\nlog_dest stderr\nlog_type all\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def add_user(self, name: str) -> str:
        """Add a user (before start, or restart after); returns its password."""
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            pytest.fail("mosquitto_passwd is not installed; run `make services-fetch`")
        password = uuid.uuid4().hex
        subprocess.run([tool, "-b", str(self.passwd), name, password], check=True, timeout=10)
        self.passwords[name] = password
        return password

    def add_device(self, sensor_id: str) -> str:
        """A device user named after its sensor; returns its URL."""
        return self.url_as(sensor_id, self.add_user(sensor_id))

    def url_as(self, user: str, password: str | None = None) -> str:
        return f"mqtt://{user}:{password or self.passwords[user]}@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """As the simulator (a gateway): may publish every sensor's topic, read none."""
        return self.url_as(PUBLISHER_USER)

    @property
    def bridge_url(self) -> str:
        """As the bridge: may read sensors/#, publish nothing."""
        return self.url_as(BRIDGE_USER)

    @property
    def anonymous_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.dir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stderr=log)
        wait_for_port(f"private Mosquitto (log {self.dir}/mosquitto.log)", self.port, 10)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its sessions and queued messages, then exits."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None


def wait_for_port(name: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{name} did not listen on 127.0.0.1:{port} within {timeout_s:g}s")
        time.sleep(0.05)


# -- fleets and what should come out of them ------------------------------------------------------


def ts_ms(ts: datetime | str) -> int:
    return to_ms(datetime.fromisoformat(ts) if isinstance(ts, str) else ts)


def fingerprint(rows: Iterable[tuple[int, dict[str, float], int | None]]) -> tuple[int, str]:
    """(count, sha256) of (ts_ms, channels, seq) rows, independent of their order."""
    lines = sorted(f"{ms}|{json.dumps(ch, sort_keys=True)}|{seq}" for ms, ch, seq in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def out_of_range(raw: dict[str, Any], types: dict[str, SensorType], sensor_type: str) -> bool:
    """The test's own oracle: does a simulated row break its type's declared ranges?"""
    specs = types[sensor_type].channels
    return any(not (specs[c].min <= v <= specs[c].max) for c, v in raw["channels"].items())


@dataclass
class Expected:
    """What a simulation should leave behind: stored rows per sensor, and the refused ones."""

    stored: dict[str, tuple[int, str]]
    refused: set[tuple[str, int]]  # (sensor_id, ts_ms)
    total: int

    @classmethod
    def of(cls, sim: Simulation) -> Expected:
        types = {t.name: t for t in BUILTIN_SENSOR_TYPES}
        kind = {s.sensor_id: s.sensor_type for s in sim.sensors}
        good: dict[str, list[tuple[int, dict[str, float], int | None]]] = {
            s.sensor_id: [] for s in sim.sensors
        }
        refused = set()
        total = 0
        for raw in sim.iter_raw():
            total += 1
            sid = raw["sensor_id"]
            if out_of_range(raw, types, kind[sid]):
                refused.add((sid, ts_ms(raw["ts"])))
            else:
                good[sid].append((ts_ms(raw["ts"]), raw["channels"], raw["seq"]))
        return cls({sid: fingerprint(rows) for sid, rows in good.items()}, refused, total)


def stored(store: TimeSeriesStore, sim: Simulation) -> dict[str, tuple[int, str]]:
    return {
        s.sensor_id: fingerprint(
            (ts_ms(r.ts), r.channels, r.seq)
            for r in store.read_readings([s.sensor_id], sim.start, sim.end)
        )
        for s in sim.sensors
    }


def read_topic(stream: Stream, topic: str, *, idle_s: float = 2.0) -> list[Record]:
    """Everything in a topic, read by a throwaway consumer group."""
    consumer = stream.consumer([topic], group=f"peek-{uuid.uuid4().hex[:8]}")
    out: list[Record] = []
    try:
        while batch := consumer.poll(1000, timeout_s=idle_s):
            out.extend(batch)
    finally:
        consumer.close()
    return out


def wait_for_readings(
    stream: Stream, want: set[tuple[str, int]], *, timeout_s: float = 60.0
) -> set[tuple[str, int]]:
    """Distinct (sensor_id, ts_ms) seen on `sensor-data` once all of `want` arrived (or time ran out)."""
    consumer = stream.consumer([SENSOR_DATA], group=f"wait-{uuid.uuid4().hex[:8]}")
    seen: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while not want <= seen and time.monotonic() < deadline:
            for rec in consumer.poll(1000, timeout_s=0.5):
                reading = decode_reading(rec.value)
                seen.add((reading.sensor_id, ts_ms(reading.ts)))
    finally:
        consumer.close()
    return seen


def keys_of(sim: Simulation) -> set[tuple[str, int]]:
    return {(raw["sensor_id"], ts_ms(raw["ts"])) for raw in sim.iter_raw()}


def mqtt_send(url: str, topic: str, payloads: list[bytes]) -> None:
    """Publish raw payloads with QoS 1 and wait for the broker's acknowledgements."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    target = MqttURL.parse(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    if target.username:
        client.username_pw_set(target.username, target.password)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
