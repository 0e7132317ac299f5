"""cProfile of a benchmark's path (`sensorguard bench --profile`): py-spy and pyinstrument are
not in uv.lock, and the standard library's profiler needs nothing new."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suite import Context

TOP = 25


@contextmanager
def profiled(ctx: Context, name: str, title: str) -> Iterator[None]:
    """Profile the block; write profiles/<name>.txt (top functions by cumulative and own time).

    A profiled run that fails is reported and skipped: the measured rows stand without it."""
    assert ctx.profile_dir is not None  # callers check --profile first
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    except Exception as err:
        ctx.progress(f"the profiled run of {name} failed, no profile: {type(err).__name__}: {err}")
        profile.disable()
        return
    finally:
        profile.disable()
        out = io.StringIO()
        for order in ("cumulative", "tottime"):
            out.write(f"==== {title}: top {TOP} by {order} ====\n")
            pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(TOP)
        ctx.profile_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.profile_dir / f"{name}.txt"
        path.write_text(out.getvalue())
        ctx.progress(f"wrote {path}")
