"""Run SensorGuard's detector over the Numenta Anomaly Benchmark and compare with the scoreboard.

Protocol (NAB v1.1): each file is scored in order; its first 15 % (at most 750 rows) is the
probationary period, used here as the training prefix and never scored; every row gets a score in
[0, 1]; one threshold per profile is optimised over the whole corpus; raw scores are normalised
between the null detector (0) and the perfect one (100).

    .venv/bin/python bench/nab/run.py                     # all 58 files, writes results.{md,json}
    .venv/bin/python bench/nab/run.py --nab ../shared/data/nab --limit 5 --no-write

The NAB folder defaults to $NAB_ROOT, else ../shared/data/nab next to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sensorguard.evaluation.nab import CostMatrix, SweptFile

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# Our entries. The first is exactly what `sensorguard backtest FILE --train-rows <probation>`
# does by default; the others swap one ingredient to show what it is worth.
CONFIGS: dict[str, dict[str, Any]] = {
    "sensorguard (backtest default)": {"detector": "tail_max"},
    "variant: ecod": {"detector": "ecod"},
    "variant: iforest": {"detector": "iforest"},
    "variant: robust_z": {"detector": "robust_z"},
    "variant: open level 4": {"detector": "tail_max", "open_level": 4.0},
    "variant: refractory span of 375 rows": {"detector": "tail_max", "refractory_rows": 375},
    "variant: sustained evidence over 10 rows": {"detector": "tail_max", "sustain_rows": 10},
    "variant: ecod, alerts with a cool-down": {"detector": "ecod", "cooldown": 0.5},
    "variant: frozen model alone (no recent-past stage)": {
        "detector": "tail_max",
        "recent_rows": 0,
    },
    "variant: recent past without new extremes": {"detector": "tail_max", "extreme_margin": None},
    "variant: recent past over 1000 rows": {"detector": "tail_max", "recent_rows": 1000},
    "variant: recent past over 4000 rows": {"detector": "tail_max", "recent_rows": 4000},
    "variant: recent mean over 10 rows": {"detector": "tail_max", "recent_short": 10},
    "variant: recent mean over 30 rows": {"detector": "tail_max", "recent_short": 30},
}

POLICY_KNOBS = (
    "open_level",
    "sustain_rows",
    "refractory_rows",
    "recent_rows",
    "recent_short",
    "extreme_margin",
)
PROFILE_LABELS = {
    "standard": "Standard",
    "reward_low_FP_rate": "Reward low FP",
    "reward_low_FN_rate": "Reward low FN",
}


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def default_root() -> Path:
    return Path(os.environ.get("NAB_ROOT", REPO.parent / "shared" / "data" / "nab"))


def score_file(args: tuple[Path, str, dict[str, Any]]) -> tuple[str, np.ndarray, float]:
    """One file's per-row NAB scores (each alert's opening score, 0 elsewhere) and its time."""
    import pandas as pd

    from sensorguard.backtest import backtest_frame, default_policy
    from sensorguard.evaluation.nab import probation_length

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    root, name, config = args
    started = time.perf_counter()
    frame = pd.read_csv(root / "data" / name)
    # NAB scores rows in file order (a few files step back in time once): keep that order.
    probation = probation_length(len(frame))
    policy = default_policy()
    knobs = {k: config[k] for k in POLICY_KNOBS if k in config}
    if knobs:
        level = knobs.get("open_level", policy.open_level)
        knobs["hold_level"] = min(level, policy.hold_level)
        policy = policy.model_validate({**policy.model_dump(), **knobs})
    run = backtest_frame(
        frame, "timestamp", ["value"], probation, detector=config["detector"], policy=policy
    )
    if config.get("cooldown"):
        # Not what backtest does: a score counts only where it beats every score of the
        # previous `cooldown x probation` rows (the previous session's NAB-tuned suppression).
        scores = run.verdicts.score
        rows = int(config["cooldown"] * probation_length(len(frame)))
        before = pd.Series(scores).shift(1).rolling(rows, min_periods=1).max().fillna(-1.0)
        return (
            name,
            np.where(scores > before.to_numpy(), scores, 0.0),
            time.perf_counter() - started,
        )
    return name, run.alert_score, time.perf_counter() - started


def sweep_corpus(
    root: Path, names: list[str]
) -> tuple[dict[str, SweptFile], dict[str, CostMatrix], int]:
    """Each file placed against its windows (read once for every config), the profiles, and the
    corpus' window count (the perfect detector's)."""
    import pandas as pd

    from sensorguard.evaluation import nab

    windows = nab.load_windows(root / "labels" / "combined_windows.json")
    swept: dict[str, SweptFile] = {}
    for name in names:
        ts = pd.read_csv(root / "data" / name, usecols=["timestamp"])["timestamp"]
        swept[name] = nab.sweep_file(ts.to_numpy("datetime64[ns]"), windows[name], name=name)
    profiles = nab.load_profiles(root / "config" / "profiles.json")
    return swept, profiles, sum(len(windows[name]) for name in names)


def evaluate(
    swept: dict[str, SweptFile],
    profiles: dict[str, CostMatrix],
    n_windows: int,
    scores: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Optimised threshold, raw and normalised score per profile, as NAB's optimiser/normaliser."""
    from sensorguard.evaluation import nab

    files = [(swept[name], scores[name]) for name in scores]
    out: dict[str, Any] = {}
    for profile_name, profile in profiles.items():
        threshold, raw = nab.optimize_threshold(files, profile)
        total, per_file = nab.score_corpus(files, threshold, profile)
        null = nab.null_score((swept[name] for name in scores), profile)
        out[profile_name] = {
            "score": nab.normalized_score(raw, null, nab.perfect_score(n_windows, profile)),
            "raw": raw,
            "threshold": threshold,
            "tp": total.tp,
            "fp": total.fp,
            "files": {name: round(r.score, 4) for name, r in zip(scores, per_file, strict=True)},
        }
    return out


def scoreboard(root: Path) -> dict[str, dict[str, float]]:
    published: dict[str, dict[str, float]] = json.loads(
        (root / "results" / "final_results.json").read_text()
    )
    return published


def render(
    results: dict[str, Any], published: dict[str, dict[str, float]], meta: dict[str, Any]
) -> str:
    rows: list[tuple[str, dict[str, float], bool]] = [
        (label, {p: body[p]["score"] for p in PROFILE_LABELS}, True)
        for label, body in results.items()
    ]
    rows += [(name, scores, False) for name, scores in published.items()]
    rows.sort(key=lambda r: -(r[1]["standard"] or 0.0))
    lines = [
        "# NAB v1.1 results",
        "",
        f"Generated by `bench/nab/run.py` on {meta['files']} files ({meta['rows']} rows) in "
        f"{meta['seconds']:.0f} s with {meta['jobs']} process(es). Published rows come from NAB's "
        "`results/final_results.json`; ours are **bold**. Thresholds are optimised per profile over "
        "the corpus, as for every published entry.",
        "",
        "| Detector | " + " | ".join(PROFILE_LABELS.values()) + " |",
        "|---|" + "---:|" * len(PROFILE_LABELS),
    ]
    for name, scores, ours in rows:
        cells = [fmt(scores[p]) for p in PROFILE_LABELS]
        label = f"**{name}**" if ours else name
        if ours:
            cells = [f"**{c}**" for c in cells]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for label, body in results.items():
        lines.append(
            f"- {label}: thresholds "
            + ", ".join(f"{PROFILE_LABELS[p]} {body[p]['threshold']:.4f}" for p in PROFILE_LABELS)
            + f"; config {json.dumps(CONFIGS[label])}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nab",
        type=Path,
        default=default_root(),
        help="NAB checkout (data/, labels/, config/, results/)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes (the machine is shared: default 1)"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (smoke runs)")
    parser.add_argument(
        "--config", action="append", choices=sorted(CONFIGS), help="entries to run (default: all)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print, do not write results.md/json"
    )
    args = parser.parse_args(argv)
    root: Path = args.nab
    if not (root / "labels" / "combined_windows.json").is_file():
        print(
            f"error: {root} is not a NAB checkout (labels/combined_windows.json missing)",
            file=sys.stderr,
        )
        return 2
    names = sorted(json.loads((root / "labels" / "combined_windows.json").read_text()))
    if args.limit:
        names = names[: args.limit]
    results: dict[str, Any] = {}
    started = time.perf_counter()
    swept, profiles, n_windows = sweep_corpus(root, names)
    rows = 0
    for label in args.config or list(CONFIGS):
        config = CONFIGS[label]
        scores: dict[str, np.ndarray] = {}
        tasks = [(root, name, config) for name in names]
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                done = list(pool.map(score_file, tasks))
        else:
            done = []
            for i, task in enumerate(tasks, 1):
                done.append(score_file(task))
                print(
                    f"[{label}] {i}/{len(tasks)} {task[1]} ({done[-1][2]:.1f} s)", file=sys.stderr
                )
        for name, file_scores, _ in done:
            scores[name] = file_scores
        rows = sum(len(s) for s in scores.values())
        results[label] = evaluate(swept, profiles, n_windows, scores)
        summary = ", ".join(
            f"{PROFILE_LABELS[p]} {fmt(results[label][p]['score'])}" for p in PROFILE_LABELS
        )
        print(f"{label}: {summary}", file=sys.stderr)
    meta = {
        "files": len(names),
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "jobs": args.jobs,
    }
    published = scoreboard(root)
    table = render(results, published, meta)
    print(table)
    if not args.no_write and not args.limit:
        (HERE / "results.md").write_text(table)
        payload = {"meta": meta, "configs": CONFIGS, "ours": results, "published": published}
        (HERE / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
