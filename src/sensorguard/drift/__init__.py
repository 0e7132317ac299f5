"""Drift checks: a group's recent data against its champion's training rows (Evidently)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.drift.check import check_group, drift_report_dir
    from sensorguard.drift.measure import DriftMeasures, judge, measure_drift
    from sensorguard.drift.records import ColumnDrift, DriftCheck

_WHERE = {
    "ColumnDrift": "records",
    "DriftCheck": "records",
    "DriftMeasures": "measure",
    "check_group": "check",
    "drift_report_dir": "check",
    "judge": "measure",
    "measure_drift": "measure",
}

__all__ = [
    "ColumnDrift",
    "DriftCheck",
    "DriftMeasures",
    "check_group",
    "drift_report_dir",
    "judge",
    "measure_drift",
]

__getattr__ = lazy_exports(__name__, _WHERE)
