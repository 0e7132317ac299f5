"""Token buckets: refuse without spending, refill with time, admit an oversized batch when full."""

from __future__ import annotations

from sensorguard.ingest.ratelimit import TokenBuckets, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_refusal_spends_nothing_and_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=20, clock=clock)
    assert buckets.wait_for({"a": 15}) == 0
    buckets.spend({"a": 15})
    wait = buckets.wait_for({"a": 10})
    assert wait == 0.5  # 5 left, 10 wanted, 10/s
    assert buckets.wait_for({"a": 10}) == wait  # asking again did not spend
    clock.t += wait
    assert buckets.wait_for({"a": 10}) == 0


def test_one_bucket_over_limit_refuses_the_whole_request() -> None:
    buckets = TokenBuckets(rate=1, burst=5, clock=Clock())
    buckets.spend({"a": 5})
    assert buckets.wait_for({"a": 1, "b": 1}) > 0
    assert buckets.wait_for({"b": 5}) == 0


def test_full_bucket_admits_an_oversized_request_then_recovers() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=4, clock=clock)
    assert buckets.wait_for({"a": 100}) == 0
    buckets.spend({"a": 100})
    assert buckets.wait_for({"a": 1}) > 0
    clock.t += 100
    assert buckets.wait_for({"a": 1}) == 0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"
