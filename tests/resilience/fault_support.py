"""Helpers of the fault tests: private servers to kill, and counts of what was sent and kept.

The servers are started by infra/local/services.sh from a run dir of their own and on ports of
their own (PORTS), so killing them never touches the shared ones of `make test`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from integration.integration_support import read_topic, ts_ms
from sensorguard.errors import BackendUnavailable
from sensorguard.ingest.pipeline import IngestPipeline, retry_delays
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import Reading, Sensor
from sensorguard.settings import Settings
from sensorguard.simulate import Simulation, SimulationConfig, simulate_fleet
from sensorguard.simulate.publish import RateLimiter, batched, iter_wire_messages
from sensorguard.store import TimeSeriesStore
from sensorguard.stream import Stream
from sensorguard.stream.codec import decode_reading, decode_score

ROOT = Path(__file__).resolve().parents[2]
SERVICES_SH = ROOT / "infra" / "local" / "services.sh"
SERVERS = ("kafka", "cassandra", "mosquitto")
# Fixed, below the kernel's ephemeral range (so no test's free_port() picks them): a leftover
# of an interrupted run holds the same ports, and the next run's `up` stops it (services.sh
# treats our server on this instance's ports as this instance's).
PORTS = {
    "SENSORGUARD_KAFKA_PORT": 19092,
    "SENSORGUARD_KAFKA_CONTROLLER_PORT": 19093,
    "SENSORGUARD_CASSANDRA_PORT": 19042,
    "SENSORGUARD_CASSANDRA_STORAGE_PORT": 17000,
    "SENSORGUARD_MOSQUITTO_PORT": 11883,
}
SHARED_PORTS = (9092, 9042, 1883)
START = datetime(2026, 3, 1, tzinfo=UTC)

T = TypeVar("T")

Identity = tuple[str, int]
"""A reading's identity: (sensor_id, ts in epoch ms)."""


def listeners(port: int) -> set[int]:
    """Pids listening on a TCP port of 127.0.0.1 (what `ss` shows this user)."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    return {int(p.split("=")[1]) for p in out.replace(",", " ").split() if p.startswith("pid=")}


@dataclass
class PrivateServers:
    """Kafka, Cassandra and Mosquitto of the fault tests only; `kill`/`restart` one of them."""

    run_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SENSORGUARD_SERVICES_DIR": str(self.run_dir),
            **{k: str(v) for k, v in PORTS.items()},
            "SENSORGUARD_CASSANDRA_HEAP": "1G",
            "SENSORGUARD_KAFKA_HEAP": "-Xms512m -Xmx512m",
        }

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{PORTS['SENSORGUARD_KAFKA_PORT']}"

    @property
    def cassandra(self) -> str:
        return f"127.0.0.1:{PORTS['SENSORGUARD_CASSANDRA_PORT']}"

    def mqtt_password(self, user: str) -> str:
        return (self.run_dir / "mosquitto" / "secrets" / user).read_text()

    def mqtt_url(self, user: str) -> str:
        port = PORTS["SENSORGUARD_MOSQUITTO_PORT"]
        return f"mqtt://{user}:{self.mqtt_password(user)}@127.0.0.1:{port}"

    def services(self, command: str, *names: str, timeout_s: float = 300) -> float:
        """Run services.sh COMMAND NAMES (never without names: Prometheus and Alertmanager
        have no port variables, so they are the shared ones); seconds taken. Fails the test
        with services.sh's own report if it fails."""
        assert names, "name the servers: without names services.sh means all of them"
        began = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", str(SERVICES_SH), command, *names],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"services.sh {command} {' '.join(names)} ran over {timeout_s:g}s: {err}")
        if done.returncode != 0:
            pytest.fail(
                f"services.sh {command} {' '.join(names)} failed (rc {done.returncode}, "
                f"run dir {self.run_dir}):\n{done.stderr[-4000:]}"
            )
        return time.monotonic() - began

    def pid(self, name: str) -> int:
        pidfile = self.run_dir / name / f"{name}.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError) as err:
            pytest.fail(f"private {name} has no pid file {pidfile}: {err}")

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye to clients."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 30, f"private {name} (pid {pid}) to die of SIGKILL")

    def restart(self, name: str) -> float:
        """services.sh down NAME (SIGTERM, as an operator's restart), then up NAME."""
        return self.services("down", name) + self.services("up", name)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def wait_until(done: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    """Poll `done` until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(poll_s)


# -- counting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """Rows seen somewhere (a topic, a table): how many, and how many distinct identities."""

    total: int
    distinct: frozenset[Identity]

    @classmethod
    def of(cls, identities: Iterable[Identity]) -> Count:
        rows = list(identities)
        return cls(len(rows), frozenset(rows))

    @property
    def duplicates(self) -> int:
        return self.total - len(self.distinct)

    def __str__(self) -> str:
        return f"{self.total} rows, {len(self.distinct)} distinct"


def sent_identities(sim: Simulation) -> frozenset[Identity]:
    return frozenset((raw["sensor_id"], ts_ms(raw["ts"])) for raw in sim.iter_raw())


def stored_readings(
    store: TimeSeriesStore, sensors: Iterable[Sensor], start: datetime, end: datetime
) -> Count:
    ids = [s.sensor_id for s in sensors]
    return Count.of((r.sensor_id, ts_ms(r.ts)) for r in store.read_readings(ids, start, end))


def stored_scores(
    store: TimeSeriesStore, sensors: Iterable[Sensor], start: datetime, end: datetime
) -> Count:
    ids = [s.sensor_id for s in sensors]
    return Count.of((s.sensor_id, ts_ms(s.ts)) for s in store.read_scores(ids, start, end))


def topic_readings(stream: Stream, topic: str) -> Count:
    return Count.of((r.sensor_id, ts_ms(r.ts)) for r in map(decode_reading, _values(stream, topic)))


def topic_scores(stream: Stream, topic: str) -> Count:
    return Count.of((s.sensor_id, ts_ms(s.ts)) for s in map(decode_score, _values(stream, topic)))


def _values(stream: Stream, topic: str) -> list[bytes]:
    return [rec.value for rec in read_topic(stream, topic, idle_s=3.0)]


def assert_exactly(sent: frozenset[Identity], where: str, seen: Count) -> None:
    """`seen` holds every identity sent, nothing else, and each once."""
    missing, extra = sent - seen.distinct, seen.distinct - sent
    assert not missing, (
        f"{where}: {len(missing)} of {len(sent)} readings lost, e.g. {sorted(missing)[:3]}"
    )
    assert not extra, f"{where}: {len(extra)} rows never sent, e.g. {sorted(extra)[:3]}"
    assert seen.total == len(sent), f"{where}: {seen.duplicates} duplicated rows ({seen})"


def assert_at_least_once(sent: frozenset[Identity], where: str, seen: Count) -> None:
    """`seen` holds every identity sent and nothing else; repeats are allowed."""
    missing, extra = sent - seen.distinct, seen.distinct - sent
    assert not missing, (
        f"{where}: {len(missing)} of {len(sent)} readings lost, e.g. {sorted(missing)[:3]}"
    )
    assert not extra, f"{where}: {len(extra)} rows never sent, e.g. {sorted(extra)[:3]}"


def report(
    fault: str, *, sent: int, stored: Count, scored: Count | None = None, **details: object
) -> None:
    """The test's line: `fault=<name> sent=N stored=N scored=N duplicates=N`, then details.

    stored and scored count distinct identities; duplicates are the stored rows beyond one per
    identity; scored is `-` where no scorer is on the faulted path (shown with -rP / -s)."""
    line = (
        f"fault={fault} sent={sent} stored={len(stored.distinct)} "
        f"scored={'-' if scored is None else len(scored.distinct)} "
        f"duplicates={stored.duplicates}  "
    ) + " ".join(f"{k}={v}" for k, v in details.items())
    print(line)
    sys.stdout.flush()


# -- a platform on the private servers ---------------------------------------------------------


@dataclass
class World:
    settings: Settings
    metadata: MetadataStore
    stream: Stream
    store: TimeSeriesStore
    sim: Simulation

    def close(self) -> None:
        self.store.close()
        self.stream.close()
        self.metadata.close()

    def stored(self) -> Count:
        return stored_readings(self.store, self.sim.sensors, self.sim.start, self.sim.end)

    def stored_at_least(self, n: int) -> bool:
        """For polling: False while the store cannot be read (the test's own reader is not
        what is under test; it reconnects like any client)."""
        try:
            return len(self.stored().distinct) >= n
        except BackendUnavailable:
            return False


def fleet(sensors: int, hours: float, seed: int) -> Simulation:
    """Valid readings only (no out-of-range faults): every reading sent must be stored."""
    return simulate_fleet(
        SimulationConfig(
            sensors=sensors, sites=1, days=hours / 24, seed=seed, fault_rate=0, start=START
        )
    )


def open_world(settings: Settings, sim: Simulation) -> World:
    from sensorguard.wiring import (
        open_configured_metadata,
        open_configured_store,
        open_configured_stream,
    )

    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(sim.sensors, upsert=True, actor="test")
    return World(
        settings, metadata, open_configured_stream(settings), open_configured_store(settings), sim
    )


class Background:
    """Run a call in a thread; `result()` joins it and returns its value or raises its error."""

    def __init__(self, name: str, call: Callable[[], T]) -> None:
        self.name = name
        self._value: list[object] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._value.append(call())
            except BaseException as err:  # handed to result(), which raises it in the test
                self._error.append(err)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise now if the call already failed (a writer that died mid-test, say)."""
        if self._error:
            raise AssertionError(f"{self.name} failed: {self._error[0]!r}") from self._error[0]

    def result(self, timeout_s: float) -> Any:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            pytest.fail(f"{self.name} still running after {timeout_s:g}s")
        self.check()
        return self._value[0]


class CountingTransport(httpx.HTTPTransport):
    """An HTTP client transport that counts the answers by status: a publisher's progress."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: Counter[int] = Counter()
        self.failures = 0  # requests that got no answer at all (connection errors, timeouts)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TransportError:
            self.failures += 1
            raise
        self.answers[response.status_code] += 1
        return response


def publish_paced(pipeline: IngestPipeline, sim: Simulation, *, rate: float, batch: int) -> int:
    """Submit the fleet to the ingest pipeline in time order at `rate` readings/s; a batch the
    stream refused is submitted again, as a front door's client would. Returns the accepted."""
    limiter = RateLimiter(rate)
    accepted = 0
    stop = threading.Event()
    for rows in batched((raw for _, raw in iter_wire_messages(sim)), batch):
        limiter.acquire(len(rows))
        for _ in retry_delays(stop, cap_s=2.0):
            try:
                accepted += len(pipeline.submit(rows, source="test").accepted)
                break
            except BackendUnavailable:
                continue
    return accepted


@dataclass(frozen=True)
class Trained:
    """A climate fleet with a @champion: its data dir (MLflow, metadata), specs, live readings."""

    settings: Settings
    sim: Simulation
    live: list[Reading]


# -- the platform's processes, to kill -----------------------------------------------------------

CLI = str(Path(sys.executable).with_name("sensorguard"))


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `sensorguard` process on these settings' backends."""
    return {
        **os.environ,
        "SENSORGUARD_DATA_DIR": str(settings.data_dir),
        "SENSORGUARD_STREAM_URL": settings.stream_url,
        "SENSORGUARD_STORE_URL": settings.store_url,
        **extra,
    }


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def kill_process(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGKILL a process that must still be running (else the test killed nothing)."""
    if proc.poll() is not None:
        pytest.fail(
            f"{proc.args} exited (rc {proc.returncode}) before the kill:\n{log.read_text()[-3000:]}"
        )
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def run_cli(args: list[str], env: dict[str, str], timeout_s: float) -> str:
    """Run `sensorguard ARGS` to its end; its output (it must exit 0)."""
    try:
        done = subprocess.run(
            [CLI, *args], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"sensorguard {' '.join(args)} ran over {timeout_s:g}s: {err.stdout!r}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout
