"""Token buckets: refuse without spending, refill with time, admit an oversized batch when full,
take atomically, refund, and (MQTT) take only what is there."""

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
    assert buckets.take({"a": 15}) == 0
    wait = buckets.take({"a": 10})
    assert wait == 0.5  # 5 left, 10 wanted, 10/s
    assert buckets.take({"a": 10}) == wait  # asking again did not spend
    clock.t += wait
    assert buckets.take({"a": 10}) == 0


def test_one_bucket_over_limit_refuses_the_whole_request() -> None:
    buckets = TokenBuckets(rate=1, burst=5, clock=Clock())
    assert buckets.take({"a": 5}) == 0
    assert buckets.take({"a": 1, "b": 1}) > 0
    assert buckets.take({"b": 5}) == 0  # the refused request took nothing of b either


def test_full_bucket_admits_an_oversized_request_then_recovers() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=4, clock=clock)
    assert buckets.take({"a": 100}) == 0
    assert buckets.take({"a": 1}) > 0
    clock.t += 100
    assert buckets.take({"a": 1}) == 0


def test_take_up_to_never_goes_into_debt() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=4, clock=clock)
    assert buckets.take_up_to("a", 100) == 4
    assert buckets.take_up_to("a", 1) == 0
    clock.t += 1
    assert buckets.take_up_to("a", 100) == 2


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"


def test_many_threads_never_spend_more_than_the_capacity() -> None:
    import sys
    import threading

    # A frozen clock: nothing refills, so at most `capacity` tokens can ever be granted.
    buckets = TokenBuckets(rate=1, burst=50, clock=lambda: 0.0)
    granted: list[int] = []
    start = threading.Barrier(32)

    def client() -> None:
        start.wait()
        for _ in range(50):
            if buckets.take({"shared": 1}) == 0:
                granted.append(1)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        threads = [threading.Thread(target=client) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert len(granted) == 50


def test_refund_gives_back_what_was_taken_up_to_the_capacity() -> None:
    buckets = TokenBuckets(rate=1, burst=10, clock=Clock())
    assert buckets.take({"a": 10}) == 0
    buckets.refund({"a": 10})
    assert buckets.take({"a": 10}) == 0
    buckets.refund({"a": 100})  # never more than a full bucket
    assert buckets.take({"a": 10}) == 0 and buckets.take({"a": 1}) > 0
