"""The records alerting passes around: an alert's state and what a notification carries."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "critical"]
AlertState = Literal["open", "acknowledged", "resolved"]


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
    def labels(self) -> dict[str, str]:
        """The identity Alertmanager groups and silences by."""
        return {
            "alertname": self.rule,
            "sensor_id": self.sensor_id,
            "site": self.site,
            "severity": self.severity,
            "source": "sensorguard",
        }
