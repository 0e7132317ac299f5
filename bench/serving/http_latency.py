"""`POST /score` latency over real HTTP: `bentoml serve` vs a bare Starlette app vs the bare call."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np

from sensorguard.schemas import Reading
from sensorguard.serve_thread import free_port
from sensorguard.serving import process

if TYPE_CHECKING:
    from trained_platform import Platform, Progress

    from sensorguard.serving.service import ScoringService

HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Payload:
    readings: list[Reading]
    body: bytes  # the JSON request, encoded once so the client's cost is the same for all


@dataclass(frozen=True)
class Latency:
    """Sequential calls: percentiles of one call's wall time, and calls per second."""

    calls: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    per_s: float

    @classmethod
    def of(cls, seconds: Sequence[float], wall_s: float) -> Latency:
        ms = 1e3 * np.asarray(seconds)
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(len(ms), float(p50), float(p90), float(p99), float(ms.mean()), len(ms) / wall_s)


@dataclass(frozen=True)
class FixedRate:
    """An open-loop run: requests sent on a fixed schedule whatever the answers' pace; each
    latency counts from the scheduled send, so a stalled server is not hidden (no coordinated
    omission). A request not answered within the timeout counts with the time it waited, so
    when more than 1 % time out, the percentiles are lower bounds (`censored`)."""

    rate: float
    seconds: float
    timeout_s: float
    sent: int
    answered: int  # 200 within the timeout
    errors: int  # another status, or a transport error
    timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    answered_per_s: float

    @property
    def censored(self) -> bool:
        return self.timeouts > 0.01 * self.sent


def payloads(readings: Sequence[Reading], size: int) -> list[Payload]:
    """Consecutive, non-overlapping slices of one sensor's live readings, `size` per request."""
    from sensorguard.serving.service import ScoreRequest

    out = []
    for first in range(0, len(readings) - size + 1, size):
        chunk = list(readings[first : first + size])
        body = ScoreRequest(readings=chunk).model_dump_json(exclude_none=True).encode()
        out.append(Payload(chunk, body))
    return out


def interleaved(
    calls: dict[str, Callable[[Payload], object]],
    work: Sequence[Payload],
    count: int,
    rounds: int = 10,
) -> dict[str, Latency]:
    """`count` calls per target, one after another, cycling through `work` (each call other
    readings); the targets take turns in `rounds` blocks, so a drift of the machine's load
    spreads over all of them instead of landing on whichever ran last."""
    seconds: dict[str, list[float]] = {target: [] for target in calls}
    wall = dict.fromkeys(calls, 0.0)
    block = max(1, count // rounds)
    done = 0
    while done < count:
        size = min(block, count - done)
        for target, call in calls.items():
            began = time.perf_counter()
            for i in range(done, done + size):
                started = time.perf_counter()
                call(work[i % len(work)])
                seconds[target].append(time.perf_counter() - started)
            wall[target] += time.perf_counter() - began
        done += size
    return {target: Latency.of(seconds[target], wall[target]) for target in calls}


@dataclass
class GcPauses:
    """Full (generation 2) garbage collections that ran inside the watched calls."""

    calls: int = 0
    collections: int = 0
    seconds: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 1e3 * self.seconds / self.collections if self.collections else 0.0


class GcWatch:
    """Counts full collections while `watching`; a gc callback, removed on close()."""

    def __init__(self) -> None:
        self.pauses = GcPauses()
        self.watching = False
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.watching or info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.collections += 1
            self.pauses.seconds += time.perf_counter() - self._started

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


def bare_call(
    service: ScoringService, size: int, watch: GcWatch | None = None
) -> Callable[[Payload], object]:
    def call(payload: Payload) -> object:
        if watch is not None:
            watch.watching = True
            watch.pauses.calls += 1
        try:
            answer = service.score(payload.readings)
        finally:
            if watch is not None:
                watch.watching = False
        if len(answer.scores) != size:
            raise RuntimeError(f"{len(answer.scores)} verdicts for {size} readings")
        return answer

    return call


def http_call(client: httpx.Client, url: str, key: str) -> Callable[[Payload], object]:
    headers = {"content-type": "application/json", "X-API-Key": key}

    def call(payload: Payload) -> object:
        answer = client.post(url, content=payload.body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"POST {url} answered {answer.status_code}: {answer.text[:500]}")
        return answer

    return call


def same_verdicts(client: httpx.Client, urls: Sequence[str], key: str, payload: Payload) -> None:
    """Every server gives the same scores for the same readings (they run the same core)."""
    headers = {"content-type": "application/json", "X-API-Key": key}
    answers = []
    for url in urls:
        answer = client.post(url, content=payload.body, headers=headers)
        answer.raise_for_status()
        answers.append([v["score"] for v in answer.json()["scores"]])
    if any(a != answers[0] for a in answers) or len(answers[0]) != len(payload.readings):
        raise RuntimeError(f"the servers disagree on the same readings: {answers}")


class ServerProcess:
    """A server subprocess (`sensorguard.serving.process`), ready once /readyz answers 200."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], port: int, log_path: Path
    ) -> None:
        self.name, self.log_path = name, log_path
        self.base = f"http://127.0.0.1:{port}"
        self.proc = process.start(command, env, log_path)

    def wait_ready(self, key: str, progress: Progress) -> str:
        took = process.wait_ready(
            self.proc, self.base, {"X-API-Key": key}, self.log_path, READY_TIMEOUT_S
        )
        progress(f"{self.name} ready on {self.base} in {took:.1f} s")
        return self.base

    def stop(self, grace_s: float = 10.0) -> None:
        process.stop(self.proc, grace_s)


@contextmanager
def servers(
    platform: Platform, work_dir: Path, progress: Progress
) -> Iterator[dict[str, ServerProcess]]:
    """Ours (`bentoml serve service:SensorGuard` from `serving/`) and the Starlette baseline
    (`baseline_server.py` under uvicorn), each a process on a free loopback port, started
    together; yields them by target once both are ready."""
    bento_port, baseline_port = free_port(), free_port()
    bentoml = process.bentoml_command("127.0.0.1", bento_port)
    baseline = [sys.executable, str(HERE / "baseline_server.py"), "--port", str(baseline_port)]
    env = {**os.environ, **platform.env()}
    procs: dict[str, ServerProcess] = {}
    try:
        procs["bentoml"] = ServerProcess(
            "bentoml serve",
            bentoml,
            {**env, "SENSORGUARD_SERVE_PORT": str(bento_port)},
            bento_port,
            work_dir / "bentoml.log",
        )
        procs["starlette"] = ServerProcess(
            "Starlette baseline", baseline, env, baseline_port, work_dir / "baseline.log"
        )
        for p in procs.values():
            p.wait_ready(platform.api_key, progress)
        yield procs
    finally:
        for p in procs.values():
            p.stop()


def fixed_rate(
    url: str, key: str, work: Sequence[Payload], rate: float, seconds: float, timeout_s: float
) -> FixedRate:
    """Send `rate` requests per second for `seconds`, cycling through `work`."""
    return asyncio.run(_fixed_rate(url, key, work, rate, seconds, timeout_s))


async def _fixed_rate(
    url: str, key: str, work: Sequence[Payload], rate: float, seconds: float, timeout_s: float
) -> FixedRate:
    headers = {"content-type": "application/json", "X-API-Key": key}
    total = int(rate * seconds)
    latencies: list[float] = []
    outcomes = {"answered": 0, "errors": 0, "timeouts": 0}
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:

        async def one(payload: Payload, due: float) -> None:
            try:
                answer = await asyncio.wait_for(
                    client.post(url, content=payload.body, headers=headers), timeout_s
                )
                outcomes["answered" if answer.status_code == 200 else "errors"] += 1
            except (TimeoutError, httpx.TimeoutException):
                outcomes["timeouts"] += 1
            except httpx.HTTPError:
                outcomes["errors"] += 1
            latencies.append(time.perf_counter() - due)

        first_due = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            due = first_due + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(work[i % len(work)], due)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - first_due
    ms = 1e3 * np.asarray(latencies)
    p50, p99 = np.percentile(ms, [50, 99])
    return FixedRate(
        rate=rate,
        seconds=seconds,
        timeout_s=timeout_s,
        sent=total,
        answered=outcomes["answered"],
        errors=outcomes["errors"],
        timeouts=outcomes["timeouts"],
        p50_ms=float(p50),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
        answered_per_s=outcomes["answered"] / wall,
    )
