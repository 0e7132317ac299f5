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
