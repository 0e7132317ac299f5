"""Matplotlib for files only: every plot SensorGuard writes goes through here."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """pyplot on the Agg backend (imported on first use: matplotlib costs ~0.5 s to import)."""
    import matplotlib

    # No display in CI, Airflow workers or the demo: render to files only.
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# The colours every SensorGuard plot gives the same things (backtest, training, the report).
READING_COLOR = "tab:blue"
FLAG_COLOR = "tab:red"
FAULT_COLOR = "tab:orange"
SCORE_COLOR = "tab:gray"


def figure_data_uri(fig: Any, *, dpi: int = 90) -> str:
    """The figure as a `data:image/png;base64,...` URI (for a self-contained HTML file); closes it.

    PNG, not SVG: a fleet's days of readings are ~10^5 points, megabytes as SVG paths.
    """
    import base64
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
