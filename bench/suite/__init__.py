"""`sensorguard bench`: every hot path against a baseline measured in the same run.

`run()` is what the CLI calls. Each benchmark (registry.py) is a function of a Context that
returns goal rows (`_harness.Row`); the rows land in results/latest.json and bench/README.md.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
for folder in (BENCH, BENCH / "serving"):  # _harness.py, and the serving benchmark's modules
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from _harness import Row, row  # noqa: E402

from suite.registry import BENCHMARKS, BY_NAME, Benchmark  # noqa: E402

RESULTS = BENCH / "results"
README = BENCH / "README.md"
VERSIONS = (
    "sensorguard", "kafka-python", "cassandra-driver", "paho-mqtt", "bentoml", "starlette",
    "uvicorn", "httpx", "feast", "pyod", "scikit-learn", "numpy", "pandas", "pydantic", "mlflow",
)  # fmt: skip

Progress = Callable[[str], None]


@dataclass
class Context:
    """What a benchmark body gets: the mode, a scratch folder, progress, the shared platform."""

    quick: bool
    work_dir: Path
    progress: Progress
    profile_dir: Path | None = None  # where cProfile reports go (--profile)
    _platform: Any = None
    extras: dict[str, Any] = field(default_factory=dict)  # details for the README

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full

    def platform(self) -> Any:
        """The trained platform of bench/serving (embedded backends), built once per run in
        a subprocess so this process holds what a serving process holds."""
        if self._platform is None:
            from run import FULL, QUICK, build_in_subprocess

            plan = QUICK if self.quick else FULL
            self._platform = build_in_subprocess(self.work_dir / "platform", plan, self.progress)
        return self._platform


def resolve(names: Sequence[str]) -> list[Benchmark]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise KeyError(
            f"unknown benchmark {unknown[0]!r}; known: {', '.join(b.name for b in BENCHMARKS)}"
        )
    return [BY_NAME[n] for n in names] if names else list(BENCHMARKS)


def _body(bench: Benchmark) -> Callable[[Context], list[Row]]:
    module, _, function = bench.target.partition(":")
    fn: Callable[[Context], list[Row]] = getattr(
        importlib.import_module(f"suite.{module}"), function
    )
    return fn


def run(
    names: Sequence[str],
    *,
    quick: bool = False,
    out_dir: Path | None = None,
    profile: bool = False,
    keep: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the named benchmarks (all by default); returns what latest.json holds."""
    selected = resolve(names)
    say = progress or _printer()
    out = out_dir or RESULTS
    work_dir = Path(tempfile.mkdtemp(prefix="sg-bench-"))
    ctx = Context(quick, work_dir, say, profile_dir=out / "profiles" if profile else None)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    try:
        for bench in selected:
            say(f"== {bench.name}: {bench.summary}")
            began = time.perf_counter()
            try:
                rows = _body(bench)(ctx)
                error = None
            except Exception as err:  # one failing benchmark must not lose the others' rows
                traceback.print_exc()
                error = f"{type(err).__name__}: {err}"[:500]
                rows = [
                    row(bench.name, "-", float("nan"), goal="runs", met=False,
                        why=f"the benchmark failed: {error}")
                ]  # fmt: skip
            results[bench.name] = {
                "benchmark": bench.name,
                "summary": bench.summary,
                "seconds": round(time.perf_counter() - began, 1),
                "mode": "quick" if quick else "full",
                "error": error,
                "rows": [asdict(r) for r in rows],
                "details": ctx.extras.pop(bench.name, {}),
            }
    finally:
        if keep:
            say(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    meta = run_meta(quick, time.perf_counter() - started, load_before)
    payload = merge(out / "latest.json", meta, results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    readme = README if out_dir is None else out / "README.md"
    from suite.report import markdown

    readme.write_text(markdown(payload))
    payload["written"] = [str(out / "latest.json"), str(readme)]
    return payload


def merge(path: Path, meta: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """This run's benchmarks over those of earlier runs kept in `path` (each says its date),
    so running one benchmark does not drop the others' last figures."""
    benchmarks: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            for entry in old.get("benchmarks", []):
                entry.setdefault("when", old.get("meta", {}).get("when"))
                benchmarks[entry["benchmark"]] = entry
        except (json.JSONDecodeError, KeyError, TypeError):
            benchmarks = {}
    for name, entry in results.items():
        benchmarks[name] = {**entry, "when": meta["when"]}
    order = [b.name for b in BENCHMARKS]
    kept = sorted(
        benchmarks.values(),
        key=lambda e: order.index(e["benchmark"]) if e["benchmark"] in order else 99,
    )
    rows = [{**r, "benchmark": e["benchmark"], "when": e["when"]} for e in kept for r in e["rows"]]
    return {"meta": meta, "rows": rows, "benchmarks": kept}


def run_meta(quick: bool, runtime_s: float, load_before: float) -> dict[str, Any]:
    import platform as host

    from _harness import package_versions
    from _harness import run_meta as base_meta

    versions = package_versions(VERSIONS)
    try:
        from sensorguard.store.cassandra import driver_status

        cassandra_driver = driver_status()
    except Exception as err:  # the driver's C parts missing is itself worth reporting
        cassandra_driver = {"error": str(err)}
    return {
        **base_meta(),
        "system": f"{host.system()} {host.release()}",
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "mode": "quick" if quick else "full",
        "runtime_s": round(runtime_s, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "versions": versions,
        "cassandra_driver": cassandra_driver,
    }


def _memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return round(pages / 2**30, 1)


def _printer() -> Progress:
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)

    return say
