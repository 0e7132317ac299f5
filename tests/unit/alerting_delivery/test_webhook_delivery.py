"""The embedded deliveries: a webhook in Alertmanager's format, the log, local silences."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sensorguard.alerting.delivery import (
    AlertmanagerDelivery,
    LogDelivery,
    WebhookDelivery,
    delivery_from_settings,
)
from sensorguard.alerting.records import Alert
from sensorguard.errors import (
    BackendUnavailable,
    DeliveryRejected,
    NotFound,
    UnsupportedURL,
    ValidationFailed,
)
from sensorguard.serve_thread import free_port
from sensorguard.settings import Settings
from webhook_receiver import Receiver, webhook_receiver

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_alert(sensor_id: str = "th-017", **changes: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": 1,
        "rule": "anomaly-high",
        "sensor_id": sensor_id,
        "site": "plant-a",
        "severity": "critical",
        "kind": "spike",
        "score": 7.25,
        "contributions": {"temperature": 3.2, "humidity": -0.4, "pressure": 0.1, "co2": 0.05},
        "summary": "temperature spike on th-017",
        "started_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return Alert.model_validate(fields)


def resolved(alert: Alert) -> Alert:
    end = alert.started_at + timedelta(minutes=10)
    return alert.model_copy(update={"state": "resolved", "resolved_at": end, "updated_at": end})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def test_firing_then_resolved_reach_the_webhook_in_alertmanager_format(receiver: Receiver) -> None:
    delivery = WebhookDelivery(receiver.url, link_base="http://sg.local:8002/")
    alert = make_alert()
    delivery.notify([alert])
    delivery.notify([resolved(alert)])
    delivery.close()

    firing, done = receiver.bodies
    assert firing["version"] == "4"
    assert firing["status"] == "firing"
    assert firing["groupLabels"] == {"alertname": "anomaly-high", "sensor_id": "th-017"}
    (sent,) = firing["alerts"]
    assert sent["status"] == "firing"
    assert sent["labels"] == {
        "alertname": "anomaly-high",
        "sensor_id": "th-017",
        "site": "plant-a",
        "severity": "critical",
        "source": "sensorguard",
    }
    assert sent["annotations"] == {
        "summary": "temperature spike on th-017",
        "kind": "spike",
        "score": "7.25",
        "top_contributions": "temperature=3.2, humidity=-0.4, pressure=0.1",
        "started_at": "2026-03-01T12:00:00+00:00",
        "scores_url": "http://sg.local:8002/live?sensor=th-017",
    }
    assert sent["startsAt"] == "2026-03-01T12:00:00+00:00"
    assert sent["endsAt"] == "0001-01-01T00:00:00Z"
    assert sent["generatorURL"] == "http://sg.local:8002/live?sensor=th-017"

    assert done["status"] == "resolved"
    assert done["alerts"][0]["status"] == "resolved"
    assert done["alerts"][0]["endsAt"] == "2026-03-01T12:10:00+00:00"
    assert done["alerts"][0]["fingerprint"] == sent["fingerprint"]


def test_a_still_firing_alert_is_repeated_only_after_the_repeat_interval(
    receiver: Receiver,
) -> None:
    now = [T0]
    delivery = WebhookDelivery(
        receiver.url, repeat_interval=timedelta(hours=4), clock=lambda: now[0]
    )
    alert = make_alert()
    for minutes in (0, 1, 30, 239, 241):  # the engine re-posts active alerts every tick
        now[0] = T0 + timedelta(minutes=minutes)
        delivery.notify([alert])
    delivery.notify([resolved(alert)])
    delivery.notify([resolved(alert)])
    delivery.notify([alert])  # firing again after resolving is news
    assert [b["status"] for b in receiver.bodies] == ["firing", "firing", "resolved", "firing"]


def test_empty_labels_are_left_out(receiver: Receiver) -> None:
    delivery = WebhookDelivery(receiver.url)
    delivery.notify([make_alert(site="", score=None, contributions={}, kind="")])
    (sent,) = receiver.bodies[0]["alerts"]
    assert "site" not in sent["labels"]
    assert set(sent["annotations"]) == {"summary", "started_at"}


def test_a_silenced_alert_is_not_sent_until_the_silence_expires(receiver: Receiver) -> None:
    delivery = WebhookDelivery(receiver.url)
    alert = make_alert()
    silence_id = delivery.silence(alert, author="ana", comment="on it")
    delivery.notify([alert, make_alert("th-018")])  # another sensor is not muted
    assert [b["groupLabels"]["sensor_id"] for b in receiver.bodies] == ["th-018"]

    delivery.expire_silence(silence_id)
    delivery.expire_silence(silence_id)  # expiring twice is harmless, as in Alertmanager
    delivery.notify([resolved(alert)])
    assert receiver.bodies[-1]["status"] == "resolved"


def test_maintenance_window_mutes_matching_alerts_only_inside_it(receiver: Receiver) -> None:
    now = [T0]
    # repeat_interval 0: every notify is sent unless muted, so only the window decides.
    delivery = WebhookDelivery(receiver.url, repeat_interval=timedelta(0), clock=lambda: now[0])
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    delivery.maintenance_window({"site": "plant-a"}, start, end, author="ops", comment="recal")
    for at in (T0, T0 + timedelta(minutes=90), T0 + timedelta(hours=2)):
        now[0] = at
        delivery.notify([make_alert(), make_alert("th-900", site="plant-b")])
    sent = [b["commonLabels"]["site"] for b in receiver.bodies]
    assert sent == ["plant-a", "plant-b", "plant-b", "plant-a", "plant-b"]


def test_silences_in_a_file_are_shared_between_processes(
    receiver: Receiver, tmp_path: Path
) -> None:
    path = tmp_path / "silences.json"
    api_side = WebhookDelivery(receiver.url, silences_path=path)
    engine_side = WebhookDelivery(receiver.url, silences_path=path)
    silence_id = api_side.silence(make_alert(), author="ana", comment="ack")
    engine_side.notify([make_alert()])
    assert receiver.bodies == []
    engine_side.expire_silence(silence_id)
    api_side.notify([make_alert()])
    assert len(receiver.bodies) == 1


def test_silence_arguments_are_checked(receiver: Receiver) -> None:
    delivery = WebhookDelivery(receiver.url, clock=lambda: T0)
    with pytest.raises(ValidationFailed, match="until must be later than now"):
        delivery.silence(make_alert(), author="a", comment="c", until=T0 - timedelta(minutes=1))
    with pytest.raises(ValidationFailed, match="matchers must be at least one"):
        delivery.maintenance_window({}, T0, T0 + timedelta(hours=1), author="a", comment="c")
    with pytest.raises(ValidationFailed, match="end must be later than start"):
        delivery.maintenance_window({"site": "x"}, T0, T0, author="a", comment="c")
    with pytest.raises(NotFound, match="no silence named 'nope'"):
        delivery.expire_silence("nope")


def test_an_unreachable_webhook_fails_naming_it_without_its_path() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/SECRET-TOKEN"
    delivery = WebhookDelivery(url, attempts=2)
    with pytest.raises(BackendUnavailable, match=r"alert webhook at http://127\.0\.0\.1:\d+ ") as e:
        delivery.notify([make_alert()])
    assert "SECRET-TOKEN" not in str(e.value)
    assert "after 2 attempts" in str(e.value)


def test_a_client_error_is_not_retried() -> None:
    with webhook_receiver(status_code=400) as receiver:
        delivery = WebhookDelivery(receiver.url, attempts=4)
        with pytest.raises(DeliveryRejected, match="refused POST with HTTP 400"):
            delivery.notify([make_alert()])
        assert len(receiver.bodies) == 1


def test_log_delivery_logs_one_line_per_alert(caplog: pytest.LogCaptureFixture) -> None:
    delivery = LogDelivery()
    alert = make_alert()
    delivery.silence(make_alert("th-018"), author="ana", comment="ack")
    with caplog.at_level(logging.INFO, logger="sensorguard.alerting.delivery"):
        delivery.notify([alert, make_alert("th-018"), resolved(alert)])
    lines = [r for r in caplog.records if r.name == "sensorguard.alerting.delivery"]
    assert [r.levelname for r in lines] == ["WARNING", "INFO"]
    assert lines[0].getMessage().startswith("alert firing: anomaly-high on th-017 [critical]")
    assert "score='7.25'" in lines[0].getMessage()
    assert lines[1].getMessage().startswith("alert resolved: anomaly-high on th-017")


def test_delivery_from_settings_picks_by_the_urls(settings: Settings) -> None:
    assert isinstance(delivery_from_settings(settings), LogDelivery)
    hook = settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9095/alerts"})
    assert isinstance(delivery_from_settings(hook), WebhookDelivery)
    both = hook.model_copy(update={"alertmanager_url": "http://127.0.0.1:9094"})
    am = delivery_from_settings(both)
    assert isinstance(am, AlertmanagerDelivery)
    assert am.url == "http://127.0.0.1:9094"
    with pytest.raises(UnsupportedURL, match="SENSORGUARD_ALERTMANAGER_URL must start with"):
        delivery_from_settings(settings.model_copy(update={"alertmanager_url": "127.0.0.1:9094"}))
