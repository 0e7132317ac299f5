"""Serving benchmark: the stream scorer's throughput and `POST /score` latency, each vs a baseline.

    .venv/bin/python bench/serving/run.py             # ~5 min; writes bench/results/serving/
    .venv/bin/python bench/serving/run.py --quick     # ~2 min: 6 sensors, fewer calls
    .venv/bin/python bench/serving/run.py --profile   # also cProfile the scoring paths

A trained platform is built on the embedded backends in a temp folder (a mixed fleet, the
shipped specs of `models/`, every group with a champion), then:

1. the stream scorer (`run_stream_scorer`) over the fleet's last day published to a fresh
   `sensor-data`, against a raw consumer of the same records (poll + decode, no scoring);
2. `/score` with 1 and 100 readings per request over HTTP on 127.0.0.1: `bentoml serve` of
   `serving/service.py` against a bare Starlette route making the same `ScoringService.score`
   call (`baseline_server.py`, a process of its own too), and the bare call itself; then
   fixed-rate runs at 100 requests/s.

Every baseline is measured in the same run, so the ratios hold across machines where the
absolute numbers do not. Nothing here asserts on timings; goals are reported as met or not.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench/_harness.py

from _harness import package_versions, run_meta  # noqa: E402
from http_latency import (  # noqa: E402
    FixedRate,
    GcPauses,
    GcWatch,
    Latency,
    bare_call,
    fixed_rate,
    http_call,
    interleaved,
    payloads,
    same_verdicts,
    servers,
)
from report import HttpResult, write  # noqa: E402
from stream_rates import measure_stream  # noqa: E402
from trained_platform import SENSOR_TYPES, Platform, Progress  # noqa: E402

if TYPE_CHECKING:
    from sensorguard.serving.service import ScoringService

OUT = HERE.parent / "results" / "serving"
VERSIONS = (
    "sensorguard",
    "bentoml",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic",
    "numpy",
    "mlflow",
)


@dataclass(frozen=True)
class Plan:
    mode: str
    sensors: int
    days: float
    stream_runs: int
    batch_size: int
    sizes: tuple[int, ...]
    warmup: int
    calls: int  # sequential calls per size and target, after the warm-up
    rate: float  # the fixed rate
    rate_seconds: float
    timeout_s: float  # a request of the fixed-rate runs not answered by then counts as lost


FULL = Plan("full", 12, 3.0, 3, 2000, (1, 100), 20, 300, 100.0, 10.0, 2.0)
QUICK = Plan("quick", 6, 3.0, 2, 2000, (1, 100), 8, 50, 100.0, 4.0, 2.0)


def progress_printer() -> Progress:
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    return say


def build_in_subprocess(data_dir: Path, plan: Plan, progress: Progress) -> Platform:
    """Train in another process: this one then holds what a serving process holds."""
    progress(f"building the platform ({plan.sensors} sensors, {plan.days:g} days, training)")
    command = [
        sys.executable,
        str(HERE / "trained_platform.py"),
        str(data_dir),
        "--sensors",
        str(plan.sensors),
        "--days",
        str(plan.days),
    ]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the platform failed (exit {done.returncode})")
    return Platform.load(data_dir)


def measure_http(
    platform: Platform, plan: Plan, work_dir: Path, progress: Progress
) -> tuple[HttpResult, ScoringService]:
    """Bare call, Starlette and bentoml, one size after another; then the fixed-rate runs."""
    import httpx

    from sensorguard.serving.service import ScoringService

    sensor_id, sensor_type = platform.sensors[0]
    readings = platform.live_readings(sensor_id)
    work = {n: payloads(readings, n) for n in plan.sizes}
    service = ScoringService.from_settings(platform.settings)
    service.start()
    key = platform.api_key
    by_target: dict[str, dict[int, Latency]] = {"bare": {}, "starlette": {}, "bentoml": {}}
    bare_gc: dict[int, GcPauses] = {}
    with (
        servers(platform, work_dir, progress) as procs,
        httpx.Client(timeout=30.0) as client,
    ):
        urls = {target: f"{p.base}/score" for target, p in procs.items()}
        same_verdicts(client, list(urls.values()), key, work[max(plan.sizes)][0])
        for n in plan.sizes:
            watch = GcWatch()
            calls = {
                "bare": bare_call(service, n, watch),
                "starlette": http_call(client, urls["starlette"], key),
                "bentoml": http_call(client, urls["bentoml"], key),
            }
            interleaved(calls, work[n], plan.warmup, rounds=1)
            watch.pauses = GcPauses()
            measured = interleaved(calls, work[n], plan.calls)
            watch.close()
            bare_gc[n] = watch.pauses
            for target, lat in measured.items():
                by_target[target][n] = lat
                progress(
                    f"/score {n:>3} reading(s), {target:9s}: p50 {lat.p50_ms:7.2f} ms  "
                    f"p99 {lat.p99_ms:7.2f} ms  {lat.per_s:7.1f} req/s"
                )
        size = min(plan.sizes)

        def at_rate(target: str, rate: float) -> FixedRate:
            f = fixed_rate(urls[target], key, work[size], rate, plan.rate_seconds, plan.timeout_s)
            progress(
                f"{rate:g} req/s for {plan.rate_seconds:g} s, {target:9s}: "
                f"{f.answered}/{f.sent} answered, {f.timeouts} timed out; p50 "
                f"{f.p50_ms:.1f} ms  p99 {f.p99_ms:.1f} ms{' (censored)' if f.censored else ''}"
            )
            return f

        # First half of what bentoml sustained one call at a time: the latency under a load it
        # can carry. Then the rate. A server does not drop the requests its clients
        # gave up on, so after an overload it works off a backlog for a while: the baseline
        # is stopped after its run, and ours runs last.
        sustainable = at_rate("bentoml", round(0.5 * by_target["bentoml"][size].per_s, 1))
        fixed_baseline = at_rate("starlette", plan.rate)
        procs["starlette"].stop(grace_s=1.0)
        fixed_ours = at_rate("bentoml", plan.rate)
        procs["bentoml"].stop(grace_s=1.0)
    http = HttpResult(
        sensor_id=sensor_id,
        sensor_type=sensor_type,
        sizes=plan.sizes,
        bare=by_target["bare"],
        starlette=by_target["starlette"],
        bentoml=by_target["bentoml"],
        fixed_size=size,
        fixed_ours=fixed_ours,
        fixed_baseline=fixed_baseline,
        fixed_sustainable=sustainable,
        bare_gc=bare_gc,
    )
    return http, service


def checkout() -> dict[str, object]:
    """Which commit is checked out, whether tracked files differ from it (read-only git), and
    a hash of the code the processes import: taken at the start and the end of a run, a
    change between them means the numbers may mix two versions of the code."""
    repo = HERE.parents[1]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )

    code = hashlib.sha256()
    for path in sorted([*(repo / "src").rglob("*.py"), *(repo / "serving").glob("*.py")]):
        code.update(path.read_bytes())
    head = git("rev-parse", "--short", "HEAD")
    return {
        "commit": head.stdout.strip() if head.returncode == 0 else None,
        "dirty": git("diff-index", "--quiet", "HEAD", "--").returncode != 0,
        "code_sha256": code.hexdigest()[:16],
    }


def meta_for(
    plan: Plan,
    platform: Platform,
    runtime_s: float,
    load_before: float,
    code_before: dict[str, object],
) -> dict[str, Any]:
    versions = package_versions(VERSIONS)
    return {
        **run_meta(),
        **code_before,
        "code_changed_during_run": checkout() != code_before,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "mode": plan.mode,
        "runtime_s": round(runtime_s, 1),
        "sensors": len(platform.sensors),
        "sensor_types": list(SENSOR_TYPES),
        "days": plan.days,
        "champions": [vars(c) for c in platform.champions],
        "versions": versions,
    }


def notes_for(platform: Platform) -> list[str]:
    notes = [
        "The platform is trained in a subprocess: the measuring process holds what a serving "
        "process holds (the stream scorer, the bare calls and the HTTP client), not the heap of "
        "a training run, which would make every garbage collection slower.",
        "Both servers run in processes of their own; the HTTP client runs in this one. On a "
        "machine with few cores the client, the server and anything else running compete.",
        "Latencies include the client's own cost (httpx), the same for every target.",
        "A `/score` call is stateless: it reads the sensor's recent history from the store "
        "before scoring, so its cost hardly shrinks with fewer readings per request.",
    ]
    forced = [c.group for c in platform.champions if c.how == "forced"]
    if forced:
        notes.append(
            f"The training gate kept no candidate for {', '.join(forced)} on this small fleet; "
            "its best candidate was promoted by hand (this benchmark measures cost, not quality)."
        )
    return notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sensors and calls (~2 min)")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="results folder (default: %(default)s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp platform and print it")
    parser.add_argument(
        "--profile", action="store_true", help="also write a cProfile of the scoring paths"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    progress = progress_printer()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    code_before = checkout()
    work_dir = Path(tempfile.mkdtemp(prefix="sg-bench-serving-"))
    try:
        progress(f"{plan.mode} run; platform in {work_dir}")
        platform = build_in_subprocess(work_dir / "sg", plan, progress)
        progress(
            "champions: "
            + ", ".join(
                f"{c.group} v{c.version} {c.detector} ({c.how})" for c in platform.champions
            )
        )
        stream = measure_stream(
            platform, work_dir, runs=plan.stream_runs, batch_size=plan.batch_size, progress=progress
        )
        gc.collect()  # what the stream benchmark left behind is not the service's to carry
        http, service = measure_http(platform, plan, work_dir, progress)
        if args.profile:
            from profiles import write_profiles

            write_profiles(args.out / "profile.txt", platform, service, work_dir, progress)
        service.stop()
        meta = meta_for(plan, platform, time.perf_counter() - started, load_before, code_before)
        rows = write(
            args.out,
            meta=meta,
            platform=platform,
            stream=stream,
            http=http,
            notes=notes_for(platform),
        )
        progress(f"wrote {args.out / 'latest.json'} and {args.out / 'results.md'}")
        for r in rows:
            met = "" if r.met is None else ("  met" if r.met else "  NOT MET")
            ratio = "" if r.ratio is None else f" ({r.ratio:.2f}x)"
            baseline = "" if r.baseline is None else f" vs {r.baseline:,.2f}"
            print(f"  {r.name}: {r.ours:,.2f}{baseline} {r.unit}{ratio}{met}")
    finally:
        if args.keep:
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
