"""The feedback trigger: false-alarm verdicts since the champion was registered, its threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from drift_helpers import FAST_SPECS

from sensorguard.alerting.store import AlertStore
from sensorguard.drift.feedback import check_feedback_group
from sensorguard.metadata import MetadataStore
from sensorguard.settings import Settings, sqlite_path
from sensorguard.specs import FeedbackPolicy, load_specs

REGISTERED = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass
class _Version:
    version: str = "3"
    creation_timestamp: int = int(REGISTERED.timestamp() * 1000)
    tags: dict[str, str] = field(default_factory=dict)


class _Client:
    """The two registry calls the check makes: the champion, and the cooldown's experiment."""

    def __init__(self, champion: _Version | None) -> None:
        self.champion = champion

    def get_model_version_by_alias(self, name: str, alias: str) -> _Version:
        if self.champion is None:
            from mlflow.exceptions import MlflowException

            raise MlflowException("not found", error_code="RESOURCE_DOES_NOT_EXIST")
        return self.champion

    def get_experiment_by_name(self, name: str) -> Any:
        return None


@dataclass
class _Context:
    settings: Settings
    client: _Client
    feedback: FeedbackPolicy = field(default_factory=FeedbackPolicy)

    def spec(self, group: str) -> Any:
        spec = load_specs(FAST_SPECS)[group]
        return spec.model_copy(update={"feedback": self.feedback})

    def sensor_ids(self, spec: Any) -> list[str]:
        return ["th-1", "th-2"]


def _judge(settings: Settings, sensor: str, verdict: str, given: datetime, n: int = 1) -> None:
    metadata = MetadataStore(sqlite_path(settings.metadata_url))
    metadata.close()
    store = AlertStore(sqlite_path(settings.metadata_url), clock=lambda: given)
    try:
        for _ in range(n):
            alert, _ = store.trigger("sensor-fault", sensor, at=given - timedelta(minutes=5))
            store.resolve(alert.alert_id, "engine")
            store.judge(alert.alert_id, "ann", verdict)  # type: ignore[arg-type]
    finally:
        store.close()


@pytest.mark.parametrize(("judged", "retrain"), [(4, False), (5, True)])
def test_false_alarms_since_the_champion_reach_the_threshold(
    settings: Settings, judged: int, retrain: bool
) -> None:
    after = REGISTERED + timedelta(hours=1)
    _judge(settings, "th-1", "false_alarm", after, judged)
    _judge(settings, "th-2", "real_fault", after, 3)  # not false alarms
    _judge(settings, "th-9", "false_alarm", after, 3)  # not the group's sensor
    _judge(settings, "th-2", "false_alarm", REGISTERED - timedelta(hours=1), 3)  # older model's
    check = check_feedback_group(_Context(settings, _Client(_Version())), "climate")  # type: ignore[arg-type]
    assert check.status == "checked" and check.champion_version == "3"
    assert check.false_alarms == judged and check.retrain is retrain, check.reasons
    assert check.trigger_reason == f"feedback: {judged} false alarms on climate"
    assert check.to_dict()["trigger_reason"] == (check.trigger_reason if retrain else None)


def test_no_champion_or_no_threshold_skips(settings: Settings) -> None:
    _judge(settings, "th-1", "false_alarm", REGISTERED, 9)
    none = check_feedback_group(_Context(settings, _Client(None)), "climate")  # type: ignore[arg-type]
    assert none.status == "skipped" and not none.retrain
    off = _Context(settings, _Client(_Version()), FeedbackPolicy(false_alarms_to_retrain=None))
    assert check_feedback_group(off, "climate").status == "skipped"  # type: ignore[arg-type]
