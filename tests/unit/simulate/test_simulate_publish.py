"""Publishing to HTTP ingest: time order, pacing, retries (429, 503, lost connections), totals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from simulate_helpers import ingest_app, serving, small_config

from sensorguard.errors import BackendUnavailable, ConfigError
from sensorguard.simulate import (
    FaultKind,
    RateLimiter,
    RetryPolicy,
    Simulation,
    iter_wire_messages,
    publish_http,
    simulate_fleet,
)


class FakeTime:
    """A clock that only moves when slept on, so waits are observed, not endured."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate_fleet(
        small_config(
            sensors=3, sites=1, days=0.1, fault_rate=20.0, fault_kinds=(FaultKind.OUT_OF_RANGE,)
        )
    )


@pytest.fixture
def server(sim: Simulation) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    received: list[tuple[str, str]] = []
    with serving(ingest_app(sim, received, retry_after="2")) as url:
        yield url, received


def test_every_reading_arrives_once_after_a_429(
    sim: Simulation, server: tuple[str, list[tuple[str, str]]]
) -> None:
    url, received = server
    fake = FakeTime()
    result = publish_http(sim, url, batch_size=100, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == [2.0]  # the server's Retry-After, once
    assert result.retries == 1
    assert result.sent == len(sim.readings)
    assert len(received) == len(sim.readings)
    assert set(received) == {(raw["sensor_id"], raw["ts"]) for raw in sim.iter_raw()}
    assert result.batches == -(-len(sim.readings) // 100)

    out_of_range = sum(1 for r in sim.point_labels()["kind"] if r == FaultKind.OUT_OF_RANGE.value)
    assert out_of_range > 0
    assert result.rejected == out_of_range
    assert result.accepted == len(sim.readings) - out_of_range
    assert sum(result.rejections_by_field.values()) == out_of_range
    assert set(result.rejection_examples) == set(result.rejections_by_field)


def test_messages_interleave_the_fleet_in_time_order(sim: Simulation) -> None:
    pairs = list(iter_wire_messages(sim))
    assert [raw["ts"] for _, raw in pairs] == sorted(raw["ts"] for _, raw in pairs)
    assert all(sensor.sensor_id == raw["sensor_id"] for sensor, raw in pairs)
    assert {raw["sensor_id"] for _, raw in pairs[:3]} == {s.sensor_id for s in sim.sensors}


def scripted(
    answers: list[Callable[[httpx.Request], httpx.Response]],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport replaying answers in order, then accepting everything."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answers:
            return answers.pop(0)(request)
        n = len(httpx.Response(200, content=request.content).json()["readings"])
        return httpx.Response(200, json={"accepted": n, "rejected": 0, "rejections": []})

    return httpx.MockTransport(handle), seen


def status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(code)


def lost_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_unavailable_and_lost_connections_back_off_exponentially(sim: Simulation) -> None:
    transport, seen = scripted([lost_connection, status(503), status(503), status(502)])
    fake = FakeTime()
    problems: list[str] = []
    result = publish_http(
        sim,
        "http://ingest",
        batch_size=len(sim.readings),
        retry=RetryPolicy(base_s=0.5, cap_s=3.0),
        transport=transport,
        clock=fake.clock,
        sleep=fake.sleep,
        on_retry=lambda problem, _: problems.append(problem),
    )
    assert fake.sleeps == [0.5, 1.0, 2.0, 3.0]
    assert problems[0].startswith("ConnectError") and problems[1:] == [
        "HTTP 503",
        "HTTP 503",
        "HTTP 502",
    ]
    assert result.retries == 4
    assert result.accepted == len(sim.readings)
    assert len(seen) == 5
    assert seen[0].content == seen[-1].content


def test_gives_up_when_ingest_stays_down(sim: Simulation) -> None:
    transport, seen = scripted([status(503)] * 50)
    fake = FakeTime()
    with pytest.raises(BackendUnavailable, match="503"):
        publish_http(
            sim,
            "http://ingest",
            retry=RetryPolicy(base_s=1.0, cap_s=4.0, give_up_after_s=20.0),
            transport=transport,
            clock=fake.clock,
            sleep=fake.sleep,
        )
    assert sum(fake.sleeps) <= 20.0
    assert 3 < len(seen) < 50


def test_refused_api_key_is_reported_not_retried(sim: Simulation) -> None:
    transport, seen = scripted([status(401)])
    with pytest.raises(ConfigError, match="API key"):
        publish_http(sim, "http://ingest", api_key="sg_wrong", transport=transport)
    assert len(seen) == 1
    assert seen[0].headers["X-API-Key"] == "sg_wrong"
    assert seen[0].url.path == "/v1/readings"


def test_rate_paces_batches(sim: Simulation) -> None:
    transport, _ = scripted([])
    fake = FakeTime()
    result = publish_http(
        sim,
        "http://ingest/",
        rate=100.0,
        batch_size=50,
        transport=transport,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    # 50 readings at 100/s: each batch after the first waits half a second.
    assert fake.sleeps == pytest.approx([0.5] * (result.batches - 1))


def test_rate_limiter_does_not_bank_idle_time() -> None:
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire(5)
    fake.now += 60.0  # a long pause...
    limiter.acquire(5)
    limiter.acquire(5)  # ...does not allow a burst afterwards
    assert fake.sleeps == [pytest.approx(0.5)]
    with pytest.raises(ConfigError):
        RateLimiter(0.0)
