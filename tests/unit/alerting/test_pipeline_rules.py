"""The pipeline-health rules: a sensor's dead-letter share, a consumer group's lag, a model
group's episode rate. Each opens when its condition has lasted, refuses to judge on too little
data, and clears with its hysteresis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from alerting_helpers import engine, minute, reading, score

from sensorguard.alerting.engine import AlertChange, AlertEngine
from sensorguard.alerting.replay import dry_run
from sensorguard.alerting.rules import parse_rule
from sensorguard.alerting.runner import attributed
from sensorguard.alerting.store import AlertStore
from sensorguard.errors import BackendUnavailable
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import Reading
from sensorguard.stream import SENSOR_DATA, Record
from sensorguard.stream.codec import DeadLetter
from sensorguard.stream.local import LocalLog


def second(i: float) -> datetime:
    return minute(i / 60)


def letter(sensor: str | None, at_s: float, field: str = "humidity") -> DeadLetter:
    return DeadLetter(
        source="http",
        received_at=second(at_s),
        field=field,
        reason=f"{field} must be within [0, 100] %RH, got 180.2",
        sensor_id=sensor,
        raw={},
    )


def readings_every_10s(sensor: str, start_s: float, n: int) -> list[Reading]:
    return [reading(sensor, (start_s + 10 * i) / 60, temperature=21) for i in range(n)]


def kinds(changes: Sequence[AlertChange]) -> list[str]:
    return [c.change for c in changes]


def lifecycle(changes: dict[int, list[AlertChange]]) -> dict[int, list[str]]:
    """When alerts opened and resolved (a breach that goes on also updates its alert)."""
    found = {i: [k for k in kinds(c) if k != "updated"] for i, c in changes.items()}
    return {i: k for i, k in found.items() if k}


# ------------------------------------------------------------------------ data quality

REJECTED_CONDITION = {
    "type": "data_quality",
    "max_rejected_ratio": 0.2,
    "window_s": 600,
    "min_messages": 20,
    "clear_margin": 0.05,
}
REJECTED = {
    "name": "rejected",
    "selector": {"sensor_types": ["climate"]},
    "condition": REJECTED_CONDITION,
}


def test_a_rejected_share_above_the_ratio_opens_naming_rate_counts_and_reason(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, REJECTED)
    assert e.on_readings(readings_every_10s("th-1", 0, 16)) == []
    # 4 of 20 is the limit itself, not above it.
    assert e.on_dead_letters([letter("th-1", 155 + i) for i in range(4)]) == []
    (opened,) = e.on_dead_letters([letter("th-1", 159, field="ts")])
    assert opened.change == "opened"
    alert = opened.alert
    assert (alert.sensor_id, alert.site, alert.rule) == ("th-1", "plant-1", "rejected")
    assert alert.score == pytest.approx(5 / 21)
    assert "24% of messages rejected" in alert.summary
    assert "5 rejected, 16 accepted" in alert.summary
    assert "most often humidity (4)" in alert.summary and "must be within" in alert.summary
    assert alert.started_at == second(159)


def test_a_data_quality_alert_clears_only_below_the_margin(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, REJECTED)
    e.on_readings(readings_every_10s("th-1", 0, 16))
    e.on_dead_letters([letter("th-1", 155 + i) for i in range(5)])
    assert len(alerts.active(rule="rejected")) == 1
    # 5 of 26 (19 %): under the ratio, not under ratio - margin (15 %): still open.
    assert e.on_readings(readings_every_10s("th-1", 160, 5)) == []
    assert len(alerts.active(rule="rejected")) == 1
    # 5 of 34 (14.7 %): cleared.
    changes = e.on_readings(readings_every_10s("th-1", 210, 8))
    assert kinds(changes) == ["resolved"] and alerts.active() == []


def test_a_data_quality_breach_must_last_for_s(metadata: MetadataStore, alerts: AlertStore) -> None:
    rule = {**REJECTED, "condition": {**REJECTED_CONDITION, "for_s": 60}}
    e = engine(metadata, alerts, rule)
    e.on_readings(readings_every_10s("th-1", 0, 10))
    assert e.on_dead_letters([letter("th-1", 100 + i) for i in range(10)]) == []  # 50 %
    assert e.on_dead_letters([letter("th-1", 140)]) == []  # 31 s into the breach
    (opened,) = e.on_dead_letters([letter("th-1", 170)])  # 61 s
    assert opened.change == "opened" and opened.alert.started_at == second(109)


def test_too_few_messages_are_not_judged(metadata: MetadataStore, alerts: AlertStore) -> None:
    e = engine(metadata, alerts, REJECTED)
    e.on_readings(readings_every_10s("th-1", 0, 5))
    assert e.on_dead_letters([letter("th-1", 60 + i) for i in range(14)]) == []  # 19 < 20
    assert alerts.history() == []


def test_rejections_older_than_the_window_no_longer_count(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, REJECTED)
    e.on_dead_letters([letter("th-1", i) for i in range(10)])
    # Ten minutes later only the 20 fresh readings are in the window: 0 % rejected.
    assert e.on_readings(readings_every_10s("th-1", 700, 20)) == []
    assert alerts.history() == []


def test_late_letters_count_where_their_time_falls(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, REJECTED)
    e.on_readings(readings_every_10s("th-1", 0, 16))  # up to 150 s
    # Refused earlier than the latest reading, but inside its window: they count.
    (opened,) = e.on_dead_letters([letter("th-1", 55 - i) for i in range(5)])
    assert opened.change == "opened" and "5 rejected, 16 accepted" in opened.alert.summary
    # Accepted readings out of order, one of them older than the window: dropped.
    e.on_readings([reading("th-1", -10, temperature=21), reading("th-1", 1, temperature=21)])
    assert "5 rejected, 17 accepted" in alerts.active()[0].summary


def test_letters_are_counted_for_the_sensor_they_name_only(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, REJECTED)
    e.on_readings(readings_every_10s("th-1", 0, 16))
    e.on_readings(readings_every_10s("snd-1", 0, 16))
    noise = [letter(None, 155 + i) for i in range(10)]  # unparsable: no sensor to blame
    noise += [letter("th-2", 155 + i) for i in range(10)]  # another sensor
    noise += [letter("snd-1", 155 + i) for i in range(10)]  # not matched by the selector
    noise += [letter("ghost-9", 155 + i) for i in range(10)]  # not registered
    changes = e.on_dead_letters(noise)
    assert [c.alert.sensor_id for c in changes] == []  # th-2 has no accepted readings yet: 10 < 20
    assert alerts.history() == []


def test_a_letter_without_a_sensor_id_is_attributed_by_its_record_key() -> None:
    def rec(key: str | None) -> Record:
        return Record("sensor-data-dlq", 0, 0, key, b"", 0)

    bare = letter(None, 0)
    assert attributed(bare, rec("th-1")).sensor_id == "th-1"
    assert attributed(bare, rec(None)).sensor_id is None
    assert attributed(letter("th-2", 0), rec("th-1")).sensor_id == "th-2"  # the body wins


# ------------------------------------------------------------------------ consumer lag

LAGGING_CONDITION = {
    "type": "consumer_lag",
    "group": "store-writer",
    "topics": [SENSOR_DATA],
    "max_records": 25,
    "for_s": 60,
}
LAGGING = {"name": "writer-lagging", "severity": "critical", "condition": LAGGING_CONDITION}


@pytest.fixture
def log(tmp_path: Path) -> LocalLog:
    stream = LocalLog(tmp_path / "stream.db", partitions=3)
    stream.ensure_topics()
    return stream


def consume(stream: LocalLog, group: str, n: int) -> None:
    consumer = stream.consumer([SENSOR_DATA], group)
    got: list[Record] = []
    while len(got) < n:
        got += consumer.poll(n - len(got), timeout_s=0.1)
    consumer.commit(got[:n])
    consumer.close()


def test_the_local_log_lag_is_what_the_group_has_not_committed(log: LocalLog) -> None:
    log.publish(SENSOR_DATA, [(f"th-{i % 7}", b"x") for i in range(50)])
    assert sum(log.lag("store-writer", [SENSOR_DATA]).values()) == 50  # never committed
    consume(log, "store-writer", 20)
    lag = log.lag("store-writer", [SENSOR_DATA])
    assert sorted(lag) == [(SENSOR_DATA, 0), (SENSOR_DATA, 1), (SENSOR_DATA, 2)]
    assert sum(lag.values()) == 30
    ends, done = log.end_offsets(SENSOR_DATA), log.committed("store-writer", SENSOR_DATA)
    assert lag == {(SENSOR_DATA, p): ends[p] - done.get(p, 0) for p in ends}


def test_a_lag_alert_waits_for_its_duration_names_the_group_and_clears(
    metadata: MetadataStore, alerts: AlertStore, log: LocalLog
) -> None:
    e = engine(metadata, alerts, LAGGING)
    log.publish(SENSOR_DATA, [(f"th-{i % 7}", b"x") for i in range(50)])
    consume(log, "store-writer", 20)
    assert e.tick(minute(0)) == []  # no stream given (a dry run): lag is not evaluated
    assert e.tick(minute(0), lags=log) == []
    assert e.tick(minute(0.5), lags=log) == []  # 30 s of the 60 s
    (opened,) = e.tick(minute(1.1), lags=log)
    alert = opened.alert
    assert opened.change == "opened" and alert.started_at == minute(0)
    assert (alert.sensor_id, alert.site, alert.severity) == (
        "consumer-group/store-writer",
        "",
        "critical",
    )
    assert not alert.about_sensor and alert.score == 30
    assert "store-writer is 30 records behind on sensor-data (limit 25)" in alert.summary
    consume(log, "store-writer", 30)
    (resolved,) = e.tick(minute(2), lags=log)
    assert resolved.change == "resolved" and alerts.active() == []


def test_a_lag_that_cannot_be_read_changes_nothing(
    metadata: MetadataStore, alerts: AlertStore, log: LocalLog
) -> None:
    class Down:
        def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
            raise BackendUnavailable("Kafka at k1:9092: down")

    e = engine(metadata, alerts, {**LAGGING, "condition": {**LAGGING_CONDITION, "for_s": 0}})
    log.publish(SENSOR_DATA, [(None, b"x")] * 40)
    assert kinds(e.tick(minute(0), lags=log)) == ["opened"]
    assert e.tick(minute(1), lags=Down()) == []
    assert len(alerts.active()) == 1


def test_a_short_lag_spike_raises_nothing(
    metadata: MetadataStore, alerts: AlertStore, log: LocalLog
) -> None:
    e = engine(metadata, alerts, LAGGING)
    log.publish(SENSOR_DATA, [(None, b"x")] * 40)
    assert e.tick(minute(0), lags=log) == []
    consume(log, "store-writer", 40)
    assert e.tick(minute(0.5), lags=log) == []
    log.publish(SENSOR_DATA, [(None, b"x")] * 40)
    assert e.tick(minute(1.1), lags=log) == []  # behind again, but only since 1.1 min
    assert alerts.history() == []


# ------------------------------------------------------------------------ model quality

DEGRADED_CONDITION = {
    "type": "model_quality",
    "group": "climate",
    "max_ratio": 3,
    "clear_margin": 1,
    "window_s": 3600,
    "min_sensor_days": 0.08,  # two sensors for about 58 minutes
    "expected_false_alarms_per_sensor_day": 24,  # one episode per sensor-hour
}
DEGRADED = {
    "name": "climate-degraded",
    "selector": {"sensor_types": ["climate"]},
    "condition": DEGRADED_CONDITION,
}
CLIMATE = "sensorguard-climate"


def replay_minutes(e: AlertEngine, minutes: range) -> dict[int, list[AlertChange]]:
    """Two climate sensors scored every minute; th-1 opens an episode every 5 minutes of the
    first hour (12 episodes: 6x the expected rate), th-2 never. One batch per minute."""
    changes = {}
    for i in minutes:
        batch = [
            score("th-1", i, i < 60 and i % 5 == 0, "spike", model=CLIMATE),
            score("th-2", i, False, model=CLIMATE),
            score("snd-1", i, True, "spike", model="sensorguard-acoustic"),
        ]
        found = e.on_scores(batch)
        if found:
            changes[i] = found
    return changes


def test_a_model_group_over_its_expected_episode_rate_opens_once_judged_and_clears(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    e = engine(metadata, alerts, DEGRADED)
    changes = replay_minutes(e, range(120))
    # Nothing before 0.08 sensor-days were covered (minute 58); cleared once the window holds
    # at most 4 episodes (2x), not at the 6 (3x) of minute 86 already: hysteresis.
    assert lifecycle(changes) == {58: ["opened"], 96: ["resolved"]}
    assert max(i for i, c in changes.items() if kinds(c) == ["updated"]) == 85  # then 3x
    opened = changes[58][0].alert
    assert (opened.sensor_id, opened.site) == ("model-group/climate", "")
    assert opened.score == pytest.approx(12 / (2 * 58 / 1440) / 24)  # 58 minutes covered
    assert "12 fault episodes over 0.0806 sensor-days (149/sensor-day" in opened.summary
    assert (
        "6.2x the expected 24; limit 3x" in opened.summary and "most on th-1 12" in opened.summary
    )


def test_model_quality_counts_only_its_group_and_selector(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    only_plant_2 = {**DEGRADED, "selector": {"sites": ["plant-2"]}}
    e = engine(metadata, alerts, only_plant_2)
    assert replay_minutes(e, range(120)) == {}  # th-1 is at plant-1; snd-1 is not climate


def test_model_quality_without_an_expected_rate_is_not_evaluated(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    cond = {
        k: v for k, v in DEGRADED_CONDITION.items() if k != "expected_false_alarms_per_sensor_day"
    }
    e = engine(metadata, alerts, {**DEGRADED, "condition": cond})
    assert replay_minutes(e, range(120)) == {}


def test_a_model_quality_breach_must_last_for_s(
    metadata: MetadataStore, alerts: AlertStore
) -> None:
    rule = {**DEGRADED, "condition": {**DEGRADED_CONDITION, "for_s": 600}}
    e = engine(metadata, alerts, rule)
    changes = replay_minutes(e, range(120))
    # Breached from minute 58 while more than 6 episodes are in the window (until 85).
    assert lifecycle(changes) == {68: ["opened"], 96: ["resolved"]}
    assert changes[68][0].alert.started_at == minute(58)


# ------------------------------------------------------------------------ dry run


@pytest.mark.parametrize(
    ("rule", "said"),
    [(REJECTED, "dead letters are not stored"), (LAGGING, "consumer lag is not stored")],
)
def test_a_dry_run_says_what_it_cannot_replay(
    metadata: MetadataStore, tmp_path: Path, rule: dict[str, object], said: str
) -> None:
    from sensorguard.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    result = dry_run(parse_rule(rule, source="test"), metadata, store, minute(0), minute(60))
    store.close()
    assert said in result.note and result.alerts == []


def test_a_dry_run_replays_model_quality_over_stored_scores(
    metadata: MetadataStore, tmp_path: Path
) -> None:
    from sensorguard.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.write_scores(
        [score("th-1", i, i < 60 and i % 5 == 0, "spike", model=CLIMATE) for i in range(120)]
        + [score("th-2", i, False, model=CLIMATE) for i in range(120)]
    )
    result = dry_run(parse_rule(DEGRADED, source="test"), metadata, store, minute(0), minute(120))
    store.close()
    assert result.scores == 240 and result.note == ""
    # Replayed in steps of 3 minutes (a 20th of the window), not judged once at the end.
    (alert,) = result.alerts
    assert alert.sensor_id == "model-group/climate" and alert.state == "resolved"


def test_the_expected_rate_defaults_to_the_champions_validated_one(
    tmp_path: Path,
) -> None:
    from sensorguard.alerting.runner import with_expected_rates
    from sensorguard.champion import CHAMPION, tag_value
    from sensorguard.settings import get_settings
    from sensorguard.specs import registered_model_name
    from sensorguard.training.tracking import mlflow_client

    settings = get_settings()
    client = mlflow_client(settings)
    name = registered_model_name("climate")
    client.create_registered_model(name)
    # Version 1 is the champion (validated at 0.5 false alarms per sensor-day); 2 is not.
    for version, rate in (("1", 0.5), ("2", 9.0)):
        client.create_model_version(
            name,
            source=(tmp_path / f"m{version}").as_uri(),
            tags={"metric.false_alarms_per_sensor_day": tag_value(rate)},
        )
    client.set_registered_model_alias(name, CHAMPION, "1")
    unrated = {
        k: v for k, v in DEGRADED_CONDITION.items() if k != "expected_false_alarms_per_sensor_day"
    }
    rules = [
        parse_rule({**DEGRADED, "condition": unrated}, source="test"),
        parse_rule({**DEGRADED, "name": "explicit"}, source="test"),
        parse_rule(
            {"name": "acoustic", "condition": {**unrated, "group": "acoustic"}}, source="test"
        ),
        parse_rule(REJECTED, source="test"),
    ]
    resolved = with_expected_rates(rules, settings)
    rates = [getattr(r.condition, "expected_false_alarms_per_sensor_day", "n/a") for r in resolved]
    # acoustic has no registered model: left unrated (the engine then skips it, logged).
    assert rates == [0.5, 24, None, "n/a"]
    assert [r.name for r in resolved] == [r.name for r in rules]


def test_the_runner_reads_dead_letters_and_counts_those_naming_no_sensor(
    metadata: MetadataStore, alerts: AlertStore, log: LocalLog
) -> None:
    from sensorguard.alerting.runner import run_engine
    from sensorguard.stream import SENSOR_DATA_DLQ
    from sensorguard.stream.codec import encode_reading

    log.publish(
        SENSOR_DATA, [("th-1", encode_reading(r)) for r in readings_every_10s("th-1", 0, 16)]
    )
    letters = [letter("th-1", 155 + i) for i in range(3)]
    # The store writer's letters carry no sensor_id; their key still names the sensor. The
    # last one names none at all (a payload that did not parse): counted, not attributed.
    letters += [letter(None, 158), letter(None, 159), letter(None, 159)]
    keys = ["th-1", "th-1", "th-1", "th-1", "th-1", None]
    log.publish(
        SENSOR_DATA_DLQ,
        [(k, x.model_dump_json().encode()) for k, x in zip(keys, letters, strict=True)],
    )
    e = engine(metadata, alerts, REJECTED)
    stats = run_engine(e, log, metadata, until_idle_s=0.3)
    assert (stats.readings, stats.dead_letters, stats.unattributed) == (16, 6, 1)
    (alert,) = alerts.active(rule="rejected")
    assert "5 rejected, 16 accepted" in alert.summary
    assert sum(log.lag("alerting", ["sensor-data-dlq"]).values()) == 0  # committed


def test_a_pipeline_alert_links_to_no_sensor(alerts: AlertStore, tmp_path: Path) -> None:
    from sensorguard.alerting.delivery import WebhookDelivery
    from sensorguard.alerting.records import subject_id

    delivery = WebhookDelivery(
        "http://127.0.0.1:9/hook", silences_path=tmp_path / "s.json", link_base="http://ops"
    )
    group, _ = alerts.trigger("writer-lagging", subject_id("consumer-group", "store-writer"))
    sensor, _ = alerts.trigger("hot", "th-1")
    assert not group.about_sensor and sensor.about_sensor
    assert delivery.payload(group)["alerts"][0]["generatorURL"] == ""
    assert "th-1" in delivery.payload(sensor)["alerts"][0]["generatorURL"]
    delivery.close()
