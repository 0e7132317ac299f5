"""`bentoml serve` POST /score against a plain Starlette route making the same model call and
the bare call: bench/serving's measurement (http_latency.py), its rows in the suite's terms."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from _harness import Row, row

if TYPE_CHECKING:
    from suite import Context


def run(ctx: Context) -> list[Row]:
    from run import FULL, QUICK, measure_http

    platform = ctx.platform()
    plan = QUICK if ctx.quick else FULL
    gc.collect()
    folder = ctx.work_dir / "serving"
    folder.mkdir(parents=True, exist_ok=True)
    http, service = measure_http(platform, plan, folder, ctx.progress)
    try:
        if ctx.profile_dir is not None:
            from profiles import write_profiles

            write_profiles(ctx.profile_dir / "serving.txt", platform, service, folder, ctx.progress)
    finally:
        service.stop()
    note = (
        f"`bentoml serve service:SensorGuard` (1 worker) and the Starlette baseline "
        "(bench/serving/baseline_server.py: parse ScoreRequest, the same ScoringService.score "
        "in the thread pool, serialise) each in its own process; one keep-alive httpx client, "
        f"{plan.calls} sequential calls per size after {plan.warmup} warm-up ones, the targets "
        "taking turns in 10 blocks; the bare call is ScoringService.score in this process"
    )
    rows = []
    for n in http.sizes:
        ours, base, bare = http.bentoml[n], http.starlette[n], http.bare[n]
        rows += [
            row(f"/score {n} reading(s): throughput, bentoml vs Starlette", "requests/s",
                ours.per_s, base.per_s, ">= 0.6x baseline", ours.per_s >= 0.6 * base.per_s,
                note=note, why="BentoML's per-request machinery on top of the same call"),
            row(f"/score {n} reading(s): p50, bentoml vs Starlette", "ms", ours.p50_ms,
                base.p50_ms, "<= baseline + 5 ms", ours.p50_ms <= base.p50_ms + 5, note=note,
                why="BentoML's per-request machinery on top of the same call"),
            row(f"/score {n} reading(s): p99, bentoml vs Starlette", "ms", ours.p99_ms,
                base.p99_ms, note=note),
            row(f"ScoringService.score, {n} reading(s), bare call: p50", "ms", bare.p50_ms,
                note=note),
        ]  # fmt: skip
    fixed, fixed_base = http.fixed_ours, http.fixed_baseline
    fixed_note = (
        f"open loop: {fixed.rate:g} requests/s of {http.fixed_size} reading for {fixed.seconds:g} s, "
        f"latency from each request's scheduled send; bentoml answered {fixed.answered} of "
        f"{fixed.sent} ({fixed.errors} errors, {fixed.timeouts} timed out after "
        f"{fixed.timeout_s:g} s); Starlette answered {fixed_base.answered} of {fixed_base.sent}; "
        f"at half its sequential rate ({http.fixed_sustainable.rate:g}/s) bentoml's p99 was "
        f"{http.fixed_sustainable.p99_ms:.0f} ms"
    )
    rows.append(row(
        f"/score at {fixed.rate:g} requests/s: p99 (bentoml vs Starlette)", "ms", fixed.p99_ms,
        fixed_base.p99_ms, "<= 50 ms", fixed.p99_ms <= 50 and fixed.answered == fixed.sent,
        note=fixed_note,
        why="one /score call costs ~15-25 ms of CPU (the sensor's history read from the store, "
        "features, the model): one process on 2 shared cores sustains ~40-50 calls/s, so 100/s "
        "queues and BentoML sheds the excess (its errors). Closing it needs the per-call cost "
        "under ~8 ms (keep each sensor's feature state in the service instead of re-reading its "
        "history per request) or more workers (`--workers`, given cores to run them)",
    ))  # fmt: skip
    return rows
