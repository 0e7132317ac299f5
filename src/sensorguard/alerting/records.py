"""The records alerting passes around: an alert's state and what a notification carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from sensorguard.training.labels import LabelWindow

Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "acknowledged", "resolved"]
SubjectKind = Literal["consumer-group", "model-group"]
# What an operator says an alert was, on acknowledging or resolving it; training reads it
# (sensorguard.training.labels.LabelSet): real faults are evaluation events, false alarms
# normal rows a candidate must not flag, maintenance windows left out.
Verdict = Literal["real_fault", "false_alarm", "maintenance"]
VERDICTS: tuple[str, ...] = get_args(Verdict)

# An alert's identity is (rule, sensor_id): the store keeps one active alert per pair and
# Alertmanager groups and silences by it. Rules about the pipeline rather than one sensor (a
# consumer group's lag, a model group's quality) keep that identity and put their subject in
# sensor_id as "<kind>/<name>". Sensor ids allow no "/", so a subject can never collide with,
# or be taken for, a registered sensor.
_SUBJECT_SEPARATOR = "/"


def subject_id(kind: SubjectKind, name: str) -> str:
    """The sensor_id of an alert whose subject is not a sensor: ``consumer-group/alerting``."""
    return f"{kind}{_SUBJECT_SEPARATOR}{name}"


class Alert(BaseModel):
    """One alert of one rule on one sensor: at most one is not resolved per (rule, sensor)."""

    model_config = ConfigDict(frozen=True)

    alert_id: int
    rule: str
    sensor_id: str
    site: str = ""
    severity: Severity = "warning"
    state: AlertState = "open"
    kind: str = Field("", description="fault kind of an anomaly alert")
    score: float | None = None
    contributions: dict[str, float] = Field(default_factory=dict)
    summary: str = ""
    started_at: AwareDatetime
    updated_at: AwareDatetime
    acknowledged_by: str | None = None
    resolved_at: AwareDatetime | None = None
    silence_id: str | None = Field(
        None, description="Alertmanager silence of an acknowledged alert"
    )

    @property
    def about_sensor(self) -> bool:
        """False for a pipeline alert, whose sensor_id is a :func:`subject_id`."""
        return _SUBJECT_SEPARATOR not in self.sensor_id

    @property
    def labels(self) -> dict[str, str]:
        """The identity Alertmanager groups and silences by."""
        return {
            "alertname": self.rule,
            "sensor_id": self.sensor_id,
            "site": self.site,
            "severity": self.severity,
            "source": "sensorguard",
        }


class AlertEvent(BaseModel):
    """One step of an alert's lifecycle (opened, acknowledged, resolved), in the order stored."""

    model_config = ConfigDict(frozen=True)

    event_id: int
    alert_id: int
    at: AwareDatetime
    actor: str
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)


class VerdictLabel(BaseModel):
    """An operator's verdict on one alert, over the alert's window: a label training reads.

    The window runs from the alert's start to its resolution, or to the moment of the verdict
    while it is still active (an acknowledged alert's fault may go on; a later verdict on the
    same alert, say at resolution, is a new label with the longer window).
    """

    model_config = ConfigDict(frozen=True)

    label_id: int
    alert_id: int
    sensor_id: str
    rule: str
    kind: str = ""
    start: AwareDatetime
    end: AwareDatetime
    verdict: Verdict
    actor: str
    at: AwareDatetime

    def window(self) -> LabelWindow:
        from datetime import timedelta

        from sensorguard.training.labels import LabelWindow

        # An alert resolved the moment it opened still covers the reading that opened it.
        end = max(self.end, self.start + timedelta(milliseconds=1))
        return LabelWindow(sensor_id=self.sensor_id, kind=self.kind, start=self.start, end=end)
