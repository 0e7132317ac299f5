"""The shared servers of 127.0.0.1 for one benchmark run: a Kafka namespace and a Cassandra
keyspace of its own (removed afterwards), Mosquitto's credentials, child processes, and the
clock that times a reading from its publish to its verdict on `anomaly-scores`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("SENSORGUARD_BENCH_KAFKA", "127.0.0.1:9092")
CASSANDRA = os.environ.get("SENSORGUARD_BENCH_CASSANDRA", "127.0.0.1:9042")
MQTT = os.environ.get("SENSORGUARD_BENCH_MQTT", "127.0.0.1:1883")
MOSQUITTO_CREDENTIALS = REPO / ".services" / "run" / "mosquitto" / "credentials.env"
SENSORGUARD = Path(sys.executable).with_name("sensorguard")


class ServerMissing(RuntimeError):
    """A shared server this benchmark needs does not answer on 127.0.0.1."""


def require(name: str, hostport: str) -> None:
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as err:
        raise ServerMissing(
            f"{name} is not reachable at {hostport} ({err}); start the shared servers with "
            "`make services-up`"
        ) from None


def run_id() -> str:
    return uuid.uuid4().hex[:8]


@contextmanager
def kafka_namespace(prefix: str = "bench") -> Iterator[str]:
    """A kafka:// URL with a topic namespace of its own; its topics are deleted afterwards."""
    require("Kafka", KAFKA)
    url = f"kafka://{KAFKA}/?namespace={prefix}{run_id()}"
    try:
        yield url
    finally:
        from sensorguard.stream.kafka import KafkaStream

        with suppress(Exception):
            stream = KafkaStream.from_url(url)
            try:
                stream.delete_topics()
            finally:
                stream.close()


@contextmanager
def cassandra_keyspace(prefix: str = "sg_bench_") -> Iterator[str]:
    """A cassandra:// URL with a keyspace of its own; dropped afterwards."""
    require("Cassandra", CASSANDRA)
    url = f"cassandra://{CASSANDRA}/{prefix}{run_id()}"
    try:
        yield url
    finally:
        from sensorguard.store.cassandra import CassandraStore, CassandraURL

        with suppress(Exception):
            admin = CassandraStore(CassandraURL.parse(url))
            try:
                admin.session.execute(f"DROP KEYSPACE IF EXISTS {CassandraURL.parse(url).keyspace}")
            finally:
                admin.close()


@dataclass(frozen=True)
class Mosquitto:
    """The shared broker and the users services.sh made: the bridge reads sensors/#, the
    simulator (a gateway) writes it."""

    host: str
    port: int
    env: dict[str, str]  # SENSORGUARD_MQTT_* of the credentials file

    @classmethod
    def shared(cls) -> Mosquitto:
        require("Mosquitto", MQTT)
        if not MOSQUITTO_CREDENTIALS.is_file():
            raise ServerMissing(f"{MOSQUITTO_CREDENTIALS} is missing: run `make services-up`")
        env = {}
        for line in MOSQUITTO_CREDENTIALS.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                env[name.strip()] = value.strip()
        host, port = MQTT.rsplit(":", 1)
        return cls(host, int(port), env)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def publisher_password(self) -> str:
        return Path(self.env["SENSORGUARD_MQTT_PUBLISHER_PASSWORD_FILE"]).read_text().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A `sensorguard …` child process in a session of its own, output in a log file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        from sensorguard.serving import process

        self.log_path = log_path
        self.proc = process.start([str(SENSORGUARD), *args], env, log_path)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            tail = self.log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{self.log_path.name}: exited {self.proc.returncode}: {tail}")

    def stop(self, grace_s: float = 10.0) -> None:
        from sensorguard.serving import process

        process.stop(self.proc, grace_s)


def wait_http(
    url: str, child: Child, timeout_s: float = 60.0, headers: dict[str, str] | None = None
) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check()
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s; see {child.log_path}")


def consumed_count(stream: Any, topic: str, want: int, timeout_s: float, group: str) -> float:
    """Poll `topic` with a fresh group until `want` records came; the monotonic time then."""
    consumer = stream.consumer([topic], group)
    seen = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < want:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {seen} of {want} records reached {topic} in {timeout_s:g} s"
                )
            seen += len(consumer.poll(5000, timeout_s=0.5))
        return time.monotonic()
    finally:
        consumer.close()


@dataclass
class VerdictClock:
    """When each reading was sent (by the benchmark) and when its verdict was read back from
    `anomaly-scores` by a tail (no group, from the end): end-to-end latency per reading."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)
    seen: dict[tuple[str, int], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark_sent(self, sensor_id: str, ts_ms: int) -> None:
        with self.lock:
            self.sent[(sensor_id, ts_ms)] = time.perf_counter()

    def latencies_ms(self, keys: Sequence[tuple[str, int]]) -> np.ndarray:
        return np.array(
            [1e3 * (self.seen[k] - self.sent[k]) for k in keys if k in self.seen and k in self.sent]
        )


@contextmanager
def verdict_tail(stream_url: str, clock: VerdictClock) -> Iterator[threading.Event]:
    """Read `anomaly-scores` from its end in a thread, stamping each verdict as it arrives."""
    from sensorguard.store.sqlite import to_ms
    from sensorguard.stream import ANOMALY_SCORES
    from sensorguard.stream.codec import decode_score
    from sensorguard.stream.kafka import KafkaStream

    stream = KafkaStream.from_url(stream_url)
    stream.ensure_topics()
    tail = stream.tail([ANOMALY_SCORES])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for rec in tail.poll(5000, timeout_s=0.2):
                now = time.perf_counter()
                score = decode_score(rec.value)
                with clock.lock:
                    clock.seen.setdefault((score.sensor_id, to_ms(score.ts)), now)

    thread = threading.Thread(target=loop, name="verdict-tail", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)
        tail.close()
        stream.close()


def paced(items: Sequence[Any], rate: float, send: Callable[[Any], None]) -> float:
    """Call `send` on each item at `rate` per second (open loop: late items go at once, never
    skipped); returns the seconds it took."""
    started = time.perf_counter()
    for i, item in enumerate(items):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(item)
    return time.perf_counter() - started


def child_env(settings: Any, **overrides: str) -> dict[str, str]:
    """The environment giving a `sensorguard` child these settings' backends, its metrics
    ports off (several benchmarks' children may run at once on one machine); `overrides` are
    settings by field name (`rate_limit_per_sensor="1e9"`)."""
    from sensorguard.serving.process import settings_env

    quiet = {f"{k}_metrics_port": "0" for k in ("scorer", "writer", "mqtt", "engine")}
    return settings_env(settings, **{**quiet, "log_level": "WARNING", **overrides})


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not within {timeout_s:g} s")
        time.sleep(0.1)


def run_cli(args: Sequence[str], env: dict[str, str], timeout_s: float, log_path: Path) -> float:
    """Run `sensorguard ARGS` to its end; its wall seconds (raises with the log's tail)."""
    started = time.perf_counter()
    with log_path.open("wb") as log:
        done = subprocess.run(
            [str(SENSORGUARD), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"sensorguard {' '.join(args)} exited {done.returncode}: {tail}")
    return seconds
