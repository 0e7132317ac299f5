"""Drift pipeline steps: check every group, then retrain the drifted ones (CLI, DAG, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from sensorguard.drift.records import DriftCheck
    from sensorguard.pipelines.training import Progress
    from sensorguard.settings import Settings


def _quiet(_: str) -> None:
    return None


def check_drift(
    settings: Settings,
    *,
    group: str | None = None,
    hours: float | None = None,
    end: datetime | None = None,
    progress: Progress | None = None,
) -> list[DriftCheck]:
    """A DriftCheck per group with registered sensors (or `group`), window ending at `end`."""
    from sensorguard.drift.check import check_group
    from sensorguard.pipelines.training import StepContext
    from sensorguard.schemas import utc_now

    ctx = StepContext(settings, progress or _quiet)
    stop = end or utc_now()
    return [check_group(ctx, name, end=stop, hours=hours) for name in ctx.groups(group)]


def retrain_drifted(
    settings: Settings,
    checks: Sequence[DriftCheck],
    *,
    end: datetime | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Train each group whose check says `retrain`, recording the check's trigger reason.

    The same `run_training` as `sensorguard train`: its quality gate decides promotion.
    """
    from sensorguard.pipelines.training import run_training

    outcomes: list[dict[str, Any]] = []
    for check in checks:
        if check.retrain:
            outcomes += run_training(
                settings,
                group=check.group,
                end=end,
                trigger_reason=check.trigger_reason,
                progress=progress,
            )
    return outcomes


def drift_checks(
    settings: Settings,
    *,
    group: str | None = None,
    hours: float | None = None,
    end: str | None = None,
) -> list[dict[str, Any]]:
    """`check_drift` for a DAG task: ISO time in, one JSON-able dict per group out."""
    from sensorguard.pipelines.training import parse_time

    return [
        c.to_dict() for c in check_drift(settings, group=group, hours=hours, end=parse_time(end))
    ]


def retraining_confs(
    checks: Sequence[dict[str, Any]], *, end: str | None = None
) -> list[dict[str, Any]]:
    """The `train_detectors` run conf of each group to retrain (empty: nothing drifted)."""
    return [
        {"group": c["group"], "trigger_reason": c["trigger_reason"], "end": end}
        for c in checks
        if c["retrain"]
    ]
