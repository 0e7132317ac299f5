"""cProfile of the serving paths (`run.py --profile`): where a `/score` call and a poll go."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trained_platform import Platform, Progress

    from sensorguard.serving.service import ScoringService

TOP = 30


def write_profiles(
    path: Path, platform: Platform, service: ScoringService, work_dir: Path, progress: Progress
) -> None:
    """Profile ScoringService.score (1 and 100 readings per call) and one stream scorer run."""
    from http_latency import payloads
    from stream_rates import scorer_run

    from sensorguard.wiring import open_configured_store, open_configured_stream

    readings = platform.live_readings(platform.sensors[0][0])
    sections = []
    for size, calls in ((1, 200), (100, 30)):
        work = payloads(readings, size)
        profile = cProfile.Profile()
        profile.enable()
        for i in range(calls):
            service.score(work[i % len(work)].readings)
        profile.disable()
        sections.append((f"ScoringService.score, {calls} calls of {size} reading(s)", profile))
        progress(f"profiled ScoringService.score with {size} reading(s) per call")

    # The stream written by measure_stream is still there: a fresh group reads it again.
    settings = platform.settings.model_copy(
        update={"stream_url": f"sqlite:///{work_dir / 'bench-stream.db'}"}
    )
    stream, store = open_configured_stream(settings), open_configured_store(settings)
    n = len(platform.live_readings())
    profile = cProfile.Profile()
    try:
        profile.enable()
        scorer_run(settings, stream, store, "bench-profile", n, 2000)
        profile.disable()
    finally:
        store.close()
        stream.close()
    sections.append((f"run_stream_scorer over {n:,} readings", profile))
    progress("profiled run_stream_scorer")

    out = io.StringIO()
    for title, prof in sections:
        for order in ("cumulative", "tottime"):
            out.write(f"==== {title}: top {TOP} by {order} ====\n")
            stats = pstats.Stats(prof, stream=out)
            stats.strip_dirs().sort_stats(order).print_stats(TOP)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())
    progress(f"wrote {path}")
