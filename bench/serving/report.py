"""The serving benchmark's results: goal rows as JSON, the same plus the details as markdown."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _harness import Row, row
from stream_rates import HISTORY

if TYPE_CHECKING:
    from http_latency import FixedRate, GcPauses, Latency
    from stream_rates import StreamResult
    from trained_platform import Platform


@dataclass(frozen=True)
class HttpResult:
    sensor_id: str
    sensor_type: str
    sizes: tuple[int, ...]
    bare: dict[int, Latency]
    starlette: dict[int, Latency]
    bentoml: dict[int, Latency]
    fixed_size: int
    fixed_ours: FixedRate  # bentoml at the rate
    fixed_baseline: FixedRate  # Starlette at the rate
    fixed_sustainable: FixedRate  # bentoml at half its sequential rate
    bare_gc: dict[int, GcPauses]  # by readings per call: full collections inside bare calls


def steady_per_s(stream: StreamResult) -> float:
    """The scorer's rate without the store reads that warm each sensor on its first reading:
    a long-running scorer pays them once per sensor, this benchmark's one day of them all."""
    warm_up = stream.phases.get(HISTORY, 0.0)
    return stream.readings / (stream.scorer_seconds - warm_up)


def goal_rows(stream: StreamResult, http: HttpResult) -> list[Row]:
    s = stream
    rows = [
        row(
            "stream scorer end to end (run_stream_scorer) vs raw consume (poll + decode)",
            "readings/s",
            s.scorer_per_s,
            s.raw_consume_per_s,
            ">= 0.5x baseline",
            s.scorer_per_s >= 0.5 * s.raw_consume_per_s,
        ),
        row(
            "stream scorer end to end, one process",
            "readings/s",
            s.scorer_per_s,
            goal=">= 5,000 readings/s",
            met=s.scorer_per_s >= 5000,
        ),
        row(
            "stream scorer end to end, less its warm-up history reads (once per sensor)",
            "readings/s",
            steady_per_s(s),
            s.raw_consume_per_s,
        ),
        row(
            "LiveScorer.score alone (decoded batches, no I/O)",
            "readings/s",
            s.scoring_only_per_s,
            s.raw_consume_per_s,
        ),
    ]
    for n in http.sizes:
        ours, base, bare = http.bentoml[n], http.starlette[n], http.bare[n]
        rows += [
            row(
                f"/score {n} reading(s)/request: throughput, sequential (bentoml vs Starlette)",
                "requests/s",
                ours.per_s,
                base.per_s,
                ">= 0.6x baseline",
                ours.per_s >= 0.6 * base.per_s,
            ),
            row(
                f"/score {n} reading(s)/request: p50 (bentoml vs Starlette)",
                "ms",
                ours.p50_ms,
                base.p50_ms,
                "<= baseline + 5 ms",
                ours.p50_ms <= base.p50_ms + 5.0,
            ),
            row(
                f"/score {n} reading(s)/request: p99 (bentoml vs Starlette)",
                "ms",
                ours.p99_ms,
                base.p99_ms,
            ),
            row(
                f"ScoringService.score in process, {n} reading(s)/call: p50",
                "ms",
                bare.p50_ms,
            ),
        ]
    fb, fs, f = http.fixed_ours, http.fixed_baseline, http.fixed_sustainable
    rows.append(
        row(
            f"/score {http.fixed_size} reading/request at {fb.rate:g} req/s for {fb.seconds:g} s: "
            "p99 (bentoml vs Starlette)"
            + (f"; >1% lost after {fb.timeout_s:g} s, so a lower bound" if fb.censored else ""),
            "ms",
            fb.p99_ms,
            fs.p99_ms,
            "<= 50 ms",
            fb.p99_ms <= 50.0 and fb.timeouts == 0 and fb.errors == 0,
        )
    )
    rows.append(
        row(
            f"/score {http.fixed_size} reading/request at {f.rate:g} req/s (half of bentoml's "
            f"sequential rate) for {f.seconds:g} s: p99 (bentoml)",
            "ms",
            f.p99_ms,
        )
    )
    return rows


def fixed_runs(http: HttpResult) -> list[tuple[str, FixedRate]]:
    """The fixed-rate runs in the order they ran."""
    return [
        ("bentoml", http.fixed_sustainable),
        ("Starlette", http.fixed_baseline),
        ("bentoml", http.fixed_ours),
    ]


def write(
    folder: Path,
    *,
    meta: dict[str, Any],
    platform: Platform,
    stream: StreamResult,
    http: HttpResult,
    notes: list[str],
) -> list[Row]:
    rows = goal_rows(stream, http)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "rows": [asdict(r) for r in rows],
        "details": {
            "stream": asdict(stream),
            "http": {
                "sensor": http.sensor_id,
                "sizes": list(http.sizes),
                **{
                    target: {str(n): asdict(lat) for n, lat in by_size.items()}
                    for target, by_size in (
                        ("bare", http.bare),
                        ("starlette", http.starlette),
                        ("bentoml", http.bentoml),
                    )
                },
                "bare_gc": {str(n): asdict(g) for n, g in http.bare_gc.items()},
                "fixed_rate": {
                    "size": http.fixed_size,
                    "runs": [
                        {"target": t, **asdict(f), "censored": f.censored}
                        for t, f in fixed_runs(http)
                    ],
                },
            },
        },
    }
    (folder / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    (folder / "results.md").write_text(markdown(meta, platform, stream, http, rows, notes))
    return rows


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def markdown(
    meta: dict[str, Any],
    platform: Platform,
    stream: StreamResult,
    http: HttpResult,
    rows: list[Row],
    notes: list[str],
) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    champions = ", ".join(
        f"{c.group} v{c.version} ({c.detector}{', forced' if c.how == 'forced' else ''})"
        for c in platform.champions
    )
    lines = [
        "# Serving: stream scorer throughput and `/score` latency",
        "",
        f"Measured {meta['when']} ({meta['mode']} run, {meta['runtime_s']:.0f} s) at commit "
        f"{meta['commit']}{' with local changes' if meta['dirty'] else ''}, on Python "
        f"{meta['python']}, {meta['machine']}, {meta['cpus']} CPUs (1-minute load average "
        f"{meta['load_before']:.2f} before the run, {meta['load_after']:.2f} after: other "
        f"work on the machine shows there). {versions}.",
        "",
        f"Platform: embedded backends in a temp folder; {len(platform.sensors)} sensors "
        f"({', '.join(meta['sensor_types'])}) over {meta['days']:g} days ({platform.stored:,} "
        "readings), trained with the "
        f"shipped specs (`models/`) on all but the last day (built in {platform.build_s:.0f} s). "
        f"Champions: {champions}. The last day is the live window: {stream.readings:,} readings.",
        "",
        "Every baseline is measured in the same run; the ratio is ours / baseline (above 1 is "
        "faster for a rate, slower for a latency). Goals are the issue's.",
        "",
        "| measured | unit | ours | baseline | ratio | goal | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            f"| {r.name} | {r.unit} | {_num(r.ours, r.unit)} | {_num(r.baseline, r.unit)} | "
            f"{ratio} | {r.goal or ''} | {_met(r.met)} |"
        )
    lines += [
        "",
        "## Stream scorer",
        "",
        f"The live day published to a fresh embedded `sensor-data` ({stream.publish_per_s:,.0f} "
        f"readings/s in batches of 1,000), then consumed from the start by fresh consumer groups "
        f"in polls of {stream.batch_size:,}; the scorer best of {stream.runs} runs, the raw "
        "consumer best of at least 5.",
        "",
        "- **baseline**: poll + `decode_reading` of every record, no scoring, no commit;",
        "- **ours**: `run_stream_scorer` end to end (decode, `LiveScorer.score` with each "
        "sensor's warm-up from the store on its first reading, publish to `anomaly-scores`, "
        "`write_scores`, commit), a fresh stateful scorer per run;",
        "- **scoring only**: a fresh stateful `LiveScorer.score` over the baseline's decoded "
        "batches, its history reads answered from memory.",
        "",
        f"Where the best scorer run's {stream.scorer_seconds:.2f} s went:",
        "",
        "| phase | seconds | share |",
        "|---|---:|---:|",
    ]
    for phase, seconds in sorted(stream.phases.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {phase} | {seconds:.3f} | {seconds / stream.scorer_seconds:.0%} |")
    lines += [
        "",
        "(`history reads` happen inside `score` and are part of its time.)",
        "",
        "## `/score` latency",
        "",
        f"Readings of one sensor ({http.sensor_id}, {http.sensor_type}) from the live window, "
        "each request other readings (consecutive slices, cycling); the body is JSON encoded "
        "once up front. One keep-alive `httpx.Client` on 127.0.0.1, requests one after another "
        "after a warm-up.",
        "",
        "- **bare**: `ScoringService.score(readings)` in this process (no HTTP, no JSON);",
        "- **Starlette** (baseline): `bench/serving/baseline_server.py`, one Starlette route "
        "under uvicorn in a process of its own: parse `ScoreRequest`, the same "
        "`ScoringService.score` in the thread pool, serialise `ScoreAnswer` (no API-key check, "
        "no body limit, no metrics);",
        "- **bentoml** (ours): `bentoml serve service:SensorGuard` from `serving/` in a "
        "process of its own (1 worker), with an operator API key.",
        "",
        "| readings/request | target | calls | p50 ms | p90 ms | p99 ms | mean ms | requests/s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in http.sizes:
        for target, lat in (
            ("bare", http.bare[n]),
            ("Starlette", http.starlette[n]),
            ("bentoml", http.bentoml[n]),
        ):
            lines.append(
                f"| {n} | {target} | {lat.calls} | {lat.p50_ms:.2f} | {lat.p90_ms:.2f} | "
                f"{lat.p99_ms:.2f} | {lat.mean_ms:.2f} | {lat.per_s:,.1f} |"
            )
    if http.bare_gc:
        lines += [
            "",
            "Garbage collection during the bare calls: "
            + "; ".join(
                f"{n} reading(s)/call: {g.collections} full (generation 2) collections in "
                f"{g.calls} calls, {g.mean_ms:.0f} ms each on average"
                for n, g in sorted(http.bare_gc.items())
            )
            + ". The call a collection lands in takes that much longer: that is the p99 tail.",
        ]
    lines += [
        "",
        f"Fixed rate, open loop, {http.fixed_size} reading/request: each request is sent at its "
        "scheduled time whatever the answers' pace and its latency counted from then, so a "
        "server that falls behind is not hidden. A request not answered within the timeout "
        "counts as lost, with the time it waited; with more than 1 % lost the percentiles are "
        "lower bounds (censored).",
        "",
        "| target | req/s asked | sent | answered | lost (timeout) | errors | answered/s "
        "| p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target, f in fixed_runs(http):
        mark = " (censored)" if f.censored else ""
        lines.append(
            f"| {target} | {f.rate:g} | {f.sent} | {f.answered} | {f.timeouts} "
            f"({f.timeout_s:g} s) | {f.errors} | {f.answered_per_s:.1f} | {f.p50_ms:.1f}{mark} | "
            f"{f.p99_ms:.1f}{mark} | {f.max_ms:.1f} |"
        )
    if meta["code_changed_during_run"]:
        notes = [
            "**The code changed while this ran** (another checkout edit): the processes "
            "started at different times may have imported different versions. Run it again.",
            *notes,
        ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
