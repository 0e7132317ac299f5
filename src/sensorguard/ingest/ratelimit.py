"""Token-bucket rate limits per sensor and per client, answered with Retry-After, never by dropping."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Many named token buckets of one rate; a request takes from several at once or from none.

    `take` checks and spends under one lock: checked and spent apart, two requests could both
    see the same tokens and both spend them. A refused request spends nothing, or a client
    that retries after Retry-After would find its budget already eaten by the refused attempt;
    for the same reason a request that failed after taking gives its tokens back (`refund`).
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = max(burst, 1.0)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def per_second(cls, rate: float, burst_s: float) -> TokenBuckets:
        """Buckets refilling at `rate` per second that hold `burst_s` seconds of it."""
        return cls(rate, rate * burst_s)

    def take(self, wants: Mapping[str, float]) -> float:
        """Spend what is wanted of every named bucket and return 0, or spend nothing and
        return the seconds until it would all fit."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            for name, n in wants.items():
                b = self._refill(name, now)
                # A full bucket admits even an oversized request and goes into debt: otherwise a
                # batch larger than the burst could never pass, however long the client waited.
                if b.tokens < n and b.tokens < self.capacity:
                    wait = max(wait, (min(n, self.capacity) - b.tokens) / self.rate)
            if wait == 0:
                for name, n in wants.items():
                    self._buckets[name].tokens -= n
            return wait

    def take_up_to(self, name: str, n: int) -> int:
        """Spend as many of `n` tokens as the bucket holds, never going into debt; how many."""
        with self._lock:
            b = self._refill(name, self._clock())
            got = max(0, min(n, math.floor(b.tokens)))
            b.tokens -= got
            return got

    def refund(self, wants: Mapping[str, float]) -> None:
        """Give back what `take` spent for a request that then failed (never past full)."""
        with self._lock:
            now = self._clock()
            for name, n in wants.items():
                b = self._refill(name, now)
                b.tokens = min(self.capacity, b.tokens + n)

    def _refill(self, name: str, now: float) -> _Bucket:
        b = self._buckets.get(name)
        if b is None:
            b = self._buckets[name] = _Bucket(self.capacity, now)
        b.tokens = min(self.capacity, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        return b


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it will fit."""
    return str(max(1, math.ceil(wait_s)))


def sensor_demand(rows: Iterable[object], known: Callable[[str], object]) -> Counter[str]:
    """Rows per registered sensor in a batch.

    Unknown ids get no bucket: validation rejects them anyway, and a bucket per made-up id would
    let a client grow the limiter's table without bound.
    """
    return Counter(
        sid
        for r in rows
        if isinstance(r, dict) and isinstance(sid := r.get("sensor_id"), str) and known(sid)
    )
