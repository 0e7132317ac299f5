"""Send a simulation to ingest like a real fleet would: time-ordered, paced, retried, nothing dropped."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import islice
from typing import Any

import httpx

from sensorguard.errors import BackendUnavailable, ConfigError, SensorGuardError
from sensorguard.schemas import Sensor
from sensorguard.simulate.fleet import Simulation
from sensorguard.simulate.io import progress_bar

READINGS_PATH = "/v1/readings"
_RETRY_STATUSES = frozenset({502, 503, 504})


def iter_wire_messages(sim: Simulation) -> Iterator[tuple[Sensor, dict[str, Any]]]:
    """(sensor, wire dict) for every reading, interleaved across the fleet in time order.

    The seam every publisher shares (HTTP here, MQTT in ingest): the sensor gives the topic or
    key, the dict is the payload.
    """
    by_id = {s.sensor_id: s for s in sim.sensors}
    for raw in sim.iter_raw():
        yield by_id[raw["sensor_id"]], raw


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items (the last may be shorter)."""
    if size < 1:
        raise ConfigError(f"batch size must be at least 1, got {size}")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class RateLimiter:
    """Paces work to `rate` items per second on average; rate None means no pacing.

    Call acquire(n) before sending n items. It sleeps just long enough that the items sent so
    far never run ahead of the rate; idle time is not banked into a later burst.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ConfigError(f"rate must be positive readings per second, got {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def acquire(self, n: int = 1) -> None:
        if self.rate is None:
            return
        now = self._clock()
        if self._next is not None and self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + n / self.rate


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff for transient failures, and when to give up on one batch."""

    base_s: float = 0.5
    cap_s: float = 30.0
    give_up_after_s: float = 300.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.cap_s, self.base_s * 2**attempt))


@dataclass
class PublishResult:
    """What ingest made of what was sent."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    batches: int = 0
    retries: int = 0
    rejections_by_field: Counter[str] = field(default_factory=Counter)
    # One reason per field, to show what a rejection looked like without echoing thousands.
    rejection_examples: dict[str, str] = field(default_factory=dict)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or bad."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _refused(url: str, response: httpx.Response) -> SensorGuardError:
    """A non-retryable answer: nothing the simulator can fix by trying again."""
    body = response.text[:300]
    if response.status_code in (401, 403):
        return ConfigError(
            f"ingest at {url} refused the API key (HTTP {response.status_code}): pass --api-key "
            f"or set SENSORGUARD_API_KEY to a key with the ingest role; server said {body!r}"
        )
    if response.status_code == 413:
        return ConfigError(
            f"ingest at {url} refused the batch as too large (HTTP 413): lower the batch size"
        )
    return SensorGuardError(
        f"ingest at {url} must answer 200, 429 or 503, got HTTP {response.status_code}: {body!r}"
    )


def _post_until_answered(
    client: httpx.Client,
    url: str,
    batch: list[dict[str, Any]],
    policy: RetryPolicy,
    result: PublishResult,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_retry: Callable[[str, float], None] | None,
) -> dict[str, Any]:
    """POST one batch, retrying 429 (after Retry-After), 502-504 and connection errors."""
    began = clock()
    attempt = 0
    while True:
        problem: str
        wait: float
        try:
            response = client.post(url, json={"readings": batch})
        except httpx.TransportError as err:
            problem, wait = f"{type(err).__name__}: {err}", policy.backoff(attempt)
        else:
            if response.is_success:
                answer: dict[str, Any] = response.json()
                return answer
            if response.status_code == 429:
                retry_after = _retry_after(response)
                problem = "HTTP 429 (rate limited)"
                wait = policy.backoff(attempt) if retry_after is None else retry_after
            elif response.status_code in _RETRY_STATUSES:
                problem, wait = f"HTTP {response.status_code}", policy.backoff(attempt)
            else:
                raise _refused(url, response)
        if clock() - began + wait > policy.give_up_after_s:
            raise BackendUnavailable(
                f"ingest at {url} still failing after {clock() - began:.0f}s ({problem}); "
                f"{result.sent} readings were delivered before giving up"
            )
        result.retries += 1
        attempt += 1
        if on_retry is not None:
            on_retry(problem, wait)
        sleep(wait)


def publish_http(
    sim: Simulation,
    base_url: str,
    *,
    rate: float | None = None,
    batch_size: int = 500,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 30.0,
    progress: bool = False,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str, float], None] | None = None,
) -> PublishResult:
    """POST the simulation's readings to `{base_url}/v1/readings` in time-ordered batches.

    rate: readings per second across the fleet (None: as fast as ingest accepts them). A batch
    is retried until ingest answers it, so none is dropped; a retry after a lost answer may
    deliver a batch twice, which ingest absorbs since (sensor_id, ts) is a reading's identity.
    Raises BackendUnavailable when a batch keeps failing past the policy's give-up time;
    on_retry(problem, wait_s) hears of every retry (the CLI prints them).
    """
    policy = retry or RetryPolicy()
    limiter = RateLimiter(rate, clock=clock, sleep=sleep)
    url = base_url.rstrip("/") + READINGS_PATH
    headers = {"X-API-Key": api_key} if api_key else {}
    result = PublishResult()
    with (
        httpx.Client(headers=headers, timeout=timeout_s, transport=transport) as client,
        progress_bar(progress) as bar,
    ):
        task = bar.add_task(f"POST {url}", total=len(sim.readings))
        messages = (raw for _, raw in iter_wire_messages(sim))
        for batch in batched(messages, batch_size):
            limiter.acquire(len(batch))
            answer = _post_until_answered(
                client, url, batch, policy, result, clock, sleep, on_retry
            )
            result.batches += 1
            result.sent += len(batch)
            result.accepted += int(answer.get("accepted", 0))
            result.rejected += int(answer.get("rejected", 0))
            for rej in answer.get("rejections", []):
                name = str(rej.get("field", "?"))
                result.rejections_by_field[name] += 1
                result.rejection_examples.setdefault(name, str(rej.get("reason", "")))
            bar.update(task, advance=len(batch))
    return result
