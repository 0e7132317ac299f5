"""Tiny benchmark harness: best-of-N wall time, goal rows, ratios against a same-run baseline."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One measured quantity, its baseline from the same run, and the issue's goal for it.

    `note` says how it was measured; `why` (rows that miss their goal) what held it back and
    what would close the gap."""

    name: str
    unit: str
    ours: float
    baseline: float | None
    ratio: float | None  # ours / baseline
    goal: str | None
    met: bool | None
    note: str = ""
    why: str = ""


def row(
    name: str,
    unit: str,
    ours: float,
    baseline: float | None = None,
    goal: str | None = None,
    met: bool | None = None,
    *,
    note: str = "",
    why: str = "",
) -> Row:
    ratio = None if not baseline else ours / baseline
    return Row(name, unit, ours, baseline, ratio, goal, met, note, "" if met is not False else why)


@dataclass
class Case:
    name: str
    baseline: str
    items: int
    seconds: float
    baseline_seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds

    @property
    def ratio(self) -> float:
        """How many times faster than its baseline (above 1: faster)."""
        return self.baseline_seconds / self.seconds


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` runs: the least disturbed by the other core's load."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_meta() -> dict[str, str]:
    """When, on which Python and machine a benchmark ran (every results file carries it)."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }


def write_results(folder: Path, title: str, cases: list[Case], notes: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = run_meta()
    (folder / "results.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "cases": [
                    asdict(c) | {"per_second": c.per_second, "ratio": c.ratio} for c in cases
                ],
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        f"# {title}",
        "",
        f"Measured {meta['when']} on Python {meta['python']} ({meta['machine']}); best of 3.",
        "",
        "| case | items | items/s | baseline | baseline items/s | speed-up vs baseline |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c.name} | {c.items:,} | {c.per_second:,.0f} | {c.baseline} | "
            f"{c.items / c.baseline_seconds:,.0f} | {c.ratio:.2f}x |"
        )
    if notes:
        lines += ["", notes.strip()]
    (folder / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def package_versions(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The installed version of each package ("?" when it is not installed)."""
    import importlib.metadata

    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "?"
    return versions
