"""bench/README.md from latest.json: the machine, the versions, every row, and why a miss."""

from __future__ import annotations

import math
from typing import Any

HEADER = """# Benchmarks

`sensorguard bench` (or `make bench`) measures every hot path against a baseline measured in the
same run, on the shared servers of 127.0.0.1 (Kafka, Cassandra, Mosquitto) with a namespace or
keyspace of its own, and writes this file and [results/latest.json](results/latest.json).
`sensorguard bench --list` names the benchmarks; `sensorguard bench NAME --quick` runs one
briefly. Ratios are ours / baseline: above 1 is faster for a rate, slower for a latency. On a
2-core machine shared with other work, absolute figures move from run to run; the ratios,
measured interleaved with their baselines, move less.
"""


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:,.1f}"
        return f"{value:,.2f}"
    return str(value)


def ratio(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}x"


def met(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "**no**")


def markdown(payload: dict[str, Any]) -> str:
    meta = payload["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    driver = meta.get("cassandra_driver", {})
    lines = [
        HEADER,
        f"Last run {meta['when']} ({meta['mode']}, {meta['runtime_s']:.0f} s): Python "
        f"{meta['python']}, {meta['system']}, {meta['machine']}, {meta['cpus']} CPUs, "
        f"{meta['memory_gb']} GB; 1-minute load {meta['load_before']} before, "
        f"{meta['load_after']} after (other work on the machine shows there).",
        "",
        f"Versions: {versions}. cassandra-driver reactor {driver.get('reactor', '?')} "
        f"(libev {driver.get('libev', '?')}), Cython extensions {driver.get('cython', '?')}.",
        "",
        "| benchmark | measured | unit | ours | baseline | ratio | goal | met |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| {r['benchmark']} | {r['name']} | {r['unit']} | {fmt(r['ours'])} | "
            f"{fmt(r['baseline'])} | {ratio(r['ratio'])} | {r['goal'] or ''} | {met(r['met'])} |"
        )
    misses = [r for r in payload["rows"] if r["met"] is False]
    if misses:
        lines += ["", "## Goals missed: why, and what would close them", ""]
        for r in misses:
            lines.append(f"- **{r['benchmark']}: {r['name']}** — {r['why'] or 'no analysis yet.'}")
    lines += ["", "## How each benchmark measures", ""]
    for entry in payload["benchmarks"]:
        lines.append(
            f"### {entry['benchmark']}\n\n{entry['summary']}. Run {entry['when']} "
            f"({entry['mode']}, {entry['seconds']:.0f} s)."
            + (f" **Failed**: {entry['error']}" if entry.get("error") else "")
        )
        notes = [r["note"] for r in entry["rows"] if r.get("note")]
        for note in dict.fromkeys(notes):
            lines.append(f"\n- {note}")
        details = entry.get("details") or {}
        for key, value in details.items():
            if isinstance(value, str):
                lines.append(f"\n- {key}: {value}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
