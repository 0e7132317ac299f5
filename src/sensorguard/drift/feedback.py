"""The feedback trigger: enough false-alarm verdicts on a group's alerts retrain its model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sensorguard.drift.records import Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sensorguard.alerting.records import VerdictLabel
    from sensorguard.pipelines.training import StepContext

FEEDBACK_PREFIX = "feedback: "


@dataclass(frozen=True)
class FeedbackCheck:
    """One group's false-alarm verdicts since its champion was registered, against the spec's
    ``feedback.false_alarms_to_retrain``. `retrain` is reaching it, unless a feedback
    retraining of the group ran within the policy's cooldown."""

    group: str
    status: Status
    champion_version: str | None = None
    since: datetime | None = None
    false_alarms: int = 0
    threshold: int | None = None
    retrain: bool = False
    reasons: tuple[str, ...] = ()
    alert_ids: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trigger_reason(self) -> str:
        """What a retraining this check starts records as its `trigger_reason`."""
        return f"{FEEDBACK_PREFIX}{self.false_alarms} false alarms on {self.group}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["since"] = self.since.isoformat() if self.since else None
        out["reasons"] = list(self.reasons)
        out["alert_ids"] = list(self.alert_ids)
        out["trigger_reason"] = self.trigger_reason if self.retrain else None
        return out


def false_alarm_alerts(verdicts: Sequence[VerdictLabel]) -> list[int]:
    """Alerts whose latest verdict is a false alarm: one count per alert, however often it
    was judged (acknowledged, then resolved), and none for one later judged otherwise."""
    latest = {v.alert_id: v for v in sorted(verdicts, key=lambda v: (v.at, v.label_id))}
    return sorted(a for a, v in latest.items() if v.verdict == "false_alarm")


def check_feedback_group(ctx: StepContext, group: str) -> FeedbackCheck:
    """Count the group's false-alarm verdicts given since its champion was registered."""
    from dataclasses import replace

    from sensorguard.alerting.store import AlertStore
    from sensorguard.champion import champion_version
    from sensorguard.drift.check import recent_retraining
    from sensorguard.schemas import utc_now

    spec = ctx.spec(group)
    policy = spec.feedback
    base = FeedbackCheck(group=group, status="skipped", threshold=policy.false_alarms_to_retrain)
    if policy.false_alarms_to_retrain is None:
        return replace(base, reasons=("feedback retraining is off in the spec",))
    version = champion_version(ctx.client, group)
    if version is None:
        return replace(base, reasons=("no @champion whose alerts were judged",))
    # Verdicts before the champion took over judged an older model's alerts (or were already
    # read by the training that produced it).
    since = datetime.fromtimestamp(int(version.creation_timestamp) / 1000, tz=UTC)
    store = AlertStore.from_settings(ctx.settings)
    try:
        verdicts = store.labels.find(sensor_ids=ctx.sensor_ids(spec), since=since)
    finally:
        store.close()
    alerts = false_alarm_alerts(verdicts)
    reached = len(alerts) >= policy.false_alarms_to_retrain
    reasons = [
        f"{len(alerts)} false-alarm verdicts since v{version.version} was registered "
        f"({'at least' if reached else 'fewer than'} {policy.false_alarms_to_retrain})"
    ]
    retrain = reached
    extra: dict[str, Any] = {}
    if reached and policy.cooldown_hours > 0:
        recent = recent_retraining(
            ctx.client,
            group,
            utc_now() - timedelta(hours=policy.cooldown_hours),
            FEEDBACK_PREFIX,
        )
        if recent is not None:
            retrain = False
            extra["cooldown_run"] = recent
            reasons.append(f"a feedback retraining ran within {policy.cooldown_hours:g} h")
    return replace(
        base,
        status="checked",
        champion_version=str(version.version),
        since=since,
        false_alarms=len(alerts),
        retrain=retrain,
        reasons=tuple(reasons),
        alert_ids=tuple(alerts),
        extra=extra,
    )
