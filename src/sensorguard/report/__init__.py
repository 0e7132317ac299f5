"""The demo's HTML report, built from a data folder: fleet, one sensor, models, drift.

`sensorguard report` and the end of `sensorguard demo` build the same file from what the
stores, the alert store and MLflow hold, so it can be rebuilt at any time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.report.data import StepTime, load_report_data, report_path, write_steps
    from sensorguard.report.html import build_report

_WHERE = {
    "StepTime": "data",
    "build_report": "html",
    "load_report_data": "data",
    "report_path": "data",
    "write_steps": "data",
}

__all__ = ["StepTime", "build_report", "load_report_data", "report_path", "write_steps"]

__getattr__ = lazy_exports(__name__, _WHERE)
