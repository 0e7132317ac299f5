"""Every rule type opens one alert when its condition has lasted, and resolves it when it clears."""

from __future__ import annotations

from alerting_helpers import engine, minute, reading, score

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import parse_rule
from sensorguard.alerting.store import AlertStore
from sensorguard.metadata import MetadataStore

HOT = {
    "name": "hot",
    "selector": {"sensor_types": ["climate"]},
    "condition": {
        "type": "threshold",
        "channel": "temperature",
        "above": 30,
        "for_s": 120,
        "clear_margin": 1,
    },
}


def test_a_threshold_alert_waits_for_its_duration_and_clears_with_hysteresis(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, HOT)
    assert (
        e.on_readings([reading("th-1", 0, temperature=31), reading("th-1", 1, temperature=31)])
        == []
    )
    opened = e.on_readings([reading("th-1", 2, temperature=32)])
    assert [c.change for c in opened] == ["opened"]
    assert opened[0].alert.started_at == minute(0)  # when the breach began
    assert e.on_readings([reading("th-1", 3, temperature=29.5)]) == []  # inside, not by 1 degree
    assert len(alerts.active(rule="hot")) == 1
    (cleared,) = e.on_readings([reading("th-1", 4, temperature=28.9)])
    assert cleared.change == "resolved" and alerts.active() == []


def test_a_short_breach_raises_nothing_and_the_selector_keeps_other_sensors_out(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, HOT)
    e.on_readings(
        [
            reading("th-1", 0, temperature=35),
            reading("th-1", 1, temperature=25),
            reading("th-1", 2, temperature=35),
            reading("th-1", 3, temperature=25),
        ]
    )
    e.on_readings([reading("snd-1", i, sound_level=300) for i in range(5)])
    assert alerts.active() == [] and alerts.history() == []


def test_repeated_triggers_keep_one_open_alert_with_its_highest_score(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, HOT)
    changes = e.on_readings([reading("th-1", i, temperature=31 + i) for i in range(10)])
    assert [c.change for c in changes].count("opened") == 1
    (alert,) = alerts.active()
    assert alert.score == 40


STUCK = {
    "name": "stuck",
    "condition": {
        "type": "anomaly",
        "kinds": ["stuck"],
        "min_duration_s": 120,
        "clear_after_s": 180,
    },
}


def test_an_anomaly_alert_needs_its_kind_and_duration_and_clears_after_a_quiet_spell(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    sent: list[Alert] = []
    e = engine(metadata, alerts, STUCK, sent=sent)
    assert e.on_scores([score("th-2", i, True, "spike") for i in range(5)]) == []  # other kind
    assert e.on_scores([score("th-2", 5, True, "stuck"), score("th-2", 6, True, "stuck")]) == []
    (opened,) = e.on_scores([score("th-2", 7, True, "stuck", value=6.5)])
    assert opened.change == "opened" and opened.alert.kind == "stuck"
    assert opened.alert.contributions == {"temperature": 1.0}
    assert sent and sent[-1].state == "open"
    # Hysteresis: a short quiet spell does not resolve it.
    e.on_scores(
        [score("th-2", 8, False), score("th-2", 9, False), score("th-2", 10, True, "stuck")]
    )
    assert len(alerts.active()) == 1
    changes = e.on_scores([score("th-2", 11 + i, False) for i in range(4)])
    assert [c.change for c in changes] == ["resolved"]
    assert sent[-1].state == "resolved"


def test_a_deadman_alert_fires_on_the_timer_and_resolves_when_the_sensor_reports(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    silent = {
        "name": "silent",
        "selector": {"sites": ["plant-1"]},
        "condition": {"type": "deadman", "silent_minutes": 10},
    }
    e = engine(metadata, alerts, silent)
    e.on_readings([reading("th-1", 0, temperature=20), reading("th-2", 0, temperature=20)])
    assert e.tick(minute(9)) == []
    fired = e.tick(minute(11))  # no data arrived: only the timer can tell
    assert [(c.alert.sensor_id, c.change) for c in fired] == [("th-1", "opened")]  # th-2: plant-2
    assert e.tick(minute(12))[0].change == "updated"
    (back,) = e.on_readings([reading("th-1", 13, temperature=20)])
    assert back.change == "resolved"


def test_an_acknowledged_alert_is_muted_and_its_resolution_still_reaches_the_receiver(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    from sensorguard.alerting.delivery import LogDelivery

    delivered: list[str] = []

    class Receiver(LogDelivery):
        """What actually goes out, after silences."""

        def _send(self, alert: Alert) -> None:
            delivered.append(alert.state)

    delivery = Receiver()
    parsed = [parse_rule(STUCK, source="test")]
    e = AlertEngine(parsed, alerts, metadata, delivery=delivery, clock=lambda: minute(0))
    (opened,) = e.on_scores([score("th-2", i, True, "stuck") for i in range(3)])
    assert delivered == ["open"]
    silence = delivery.silence(opened.alert, author="ops", comment="on it")
    alerts.acknowledge(opened.alert.alert_id, "ops", silence_id=silence)
    e.on_scores([score("th-2", 3, True, "stuck")])
    e.tick(minute(4))
    assert delivered == ["open"]  # muted while acknowledged
    e.on_scores([score("th-2", 4 + i, False) for i in range(5)])
    assert delivered == ["open", "resolved"]
