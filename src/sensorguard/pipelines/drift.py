"""Retraining triggers: check every group for drift or false-alarm feedback, then retrain
the groups a check says to (CLI, DAG, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from sensorguard.drift.feedback import FeedbackCheck
    from sensorguard.drift.records import DriftCheck
    from sensorguard.pipelines.training import Progress
    from sensorguard.settings import Settings


def _quiet(_: str) -> None:
    return None


class RetrainCheck(Protocol):
    """What any retraining trigger's check says: which group, whether, and why."""

    @property
    def group(self) -> str: ...
    @property
    def retrain(self) -> bool: ...
    @property
    def trigger_reason(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


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
    from sensorguard.monitoring import record_drift
    from sensorguard.pipelines.training import StepContext
    from sensorguard.schemas import utc_now

    ctx = StepContext(settings, progress or _quiet)
    stop = end or utc_now()
    checks = [check_group(ctx, name, end=stop, hours=hours) for name in ctx.groups(group)]
    record_drift(checks)
    return checks


def check_feedback(
    settings: Settings, *, group: str | None = None, progress: Progress | None = None
) -> list[FeedbackCheck]:
    """A FeedbackCheck per group with registered sensors (or `group`)."""
    from sensorguard.drift.feedback import check_feedback_group
    from sensorguard.pipelines.training import StepContext

    ctx = StepContext(settings, progress or _quiet)
    return [check_feedback_group(ctx, name) for name in ctx.groups(group)]


def feedback_checks(settings: Settings, *, group: str | None = None) -> list[dict[str, Any]]:
    """`check_feedback` for a DAG task: one JSON-able dict per group."""
    return [c.to_dict() for c in check_feedback(settings, group=group)]


def retrain_drifted(
    settings: Settings,
    checks: Sequence[RetrainCheck],
    *,
    end: datetime | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Train each group whose check (drift or feedback) says `retrain`, recording the check's
    trigger reason; a group two checks name trains once, for the first.

    The same `run_training` as `sensorguard train`: its quality gate decides promotion.
    """
    from sensorguard.pipelines.training import run_training

    outcomes: list[dict[str, Any]] = []
    trained: set[str] = set()
    for check in checks:
        if check.retrain and check.group not in trained:
            trained.add(check.group)
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
    """The `train_detectors` run conf of each group to retrain (empty: nothing drifted and
    no feedback reached its threshold); one per group, the first check's reason."""
    confs: dict[str, dict[str, Any]] = {}
    for c in checks:
        if c["retrain"] and c["group"] not in confs:
            confs[c["group"]] = {
                "group": c["group"],
                "trigger_reason": c["trigger_reason"],
                "end": end,
            }
    return list(confs.values())
