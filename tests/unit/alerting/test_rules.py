"""Rules are plain data: selectors match what they say, bad files are refused by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from alerting_helpers import SENSORS

from sensorguard.alerting.rules import AlertRule, Selector, load_rules_file, parse_rule
from sensorguard.errors import ConfigError


@pytest.mark.parametrize(
    ("selector", "matched"),
    [
        (Selector(), {"th-1", "th-2", "snd-1"}),
        (Selector(sensor_types=("climate",)), {"th-1", "th-2"}),
        (Selector(sites=("plant-1",)), {"th-1", "snd-1"}),
        (Selector(tags={"floor": "2"}), {"th-1"}),
        (Selector(sensors=("th-2",), sites=("plant-1",)), set()),  # every list must match
    ],
)
def test_selectors_match_by_sensor_type_site_and_tags(
    selector: Selector, matched: set[str]
) -> None:
    assert {s.sensor_id for s in SENSORS if selector.matches(s)} == matched


def test_a_rule_file_round_trips_and_the_store_keeps_its_definition(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: hot\n    severity: critical\n"
        "    selector: {sensor_types: [climate]}\n"
        "    condition: {type: threshold, channel: temperature, above: 30, for_s: 60}\n"
        "  - name: faults\n    condition: {type: anomaly, kinds: [stuck, drift], min_duration_s: 120}\n"
        "  - name: silent\n    condition: {type: deadman, silent_minutes: 15}\n"
    )
    rules = load_rules_file(path)
    assert [r.name for r in rules] == ["hot", "faults", "silent"]
    again = AlertRule.from_record(rules[0].name, rules[0].definition(), True)
    assert again == rules[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ncondition: {type: threshold, channel: t}\n", "above, below or both"),
        ("name: x\ncondition: {type: anomaly, kinds: [spikes]}\n", "'spikes' is not a fault kind"),
        ("name: x\ncondition: {type: deadman, silent_minutes: 0}\n", "silent_minutes"),
        ("name: x\ncondition: {type: sms}\n", "condition"),
        ("name: Bad Name\ncondition: {type: deadman, silent_minutes: 5}\n", "name"),
        ("name: x\nseverity: loud\ncondition: {type: deadman, silent_minutes: 5}\n", "severity"),
        (
            "name: x\ncondition: {type: data_quality, max_rejected_ratio: 1.5}\n",
            "max_rejected_ratio",
        ),
        (
            "name: x\ncondition: {type: data_quality, max_rejected_ratio: 0.2, min_messages: 0}\n",
            "min_messages",
        ),
        (
            "name: x\ncondition: {type: data_quality, max_rejected_ratio: 0.2, clear_margin: 0.3}\n",
            r"clear_margin \(0.3\) must be at most max_rejected_ratio \(0.2\)",
        ),
        (
            "name: x\ncondition: {type: consumer_lag, group: g, topics: [sensor-dat], "
            "max_records: 5}\n",
            "'sensor-dat' is not a data-path topic",
        ),
        (
            "name: x\ncondition: {type: consumer_lag, group: g, topics: [], max_records: 5}\n",
            "topics",
        ),
        (
            "name: x\ncondition: {type: consumer_lag, topics: [sensor-data], max_records: 5}\n",
            "group",
        ),
        (
            "name: x\nselector: {sites: [plant-1]}\ncondition: {type: consumer_lag, group: g, "
            "topics: [sensor-data], max_records: 5}\n",
            "selector: a consumer_lag rule watches a consumer group",
        ),
        (
            "name: x\ncondition: {type: model_quality, group: climate, max_ratio: 0.5}\n",
            "max_ratio",
        ),
        ("name: x\ncondition: {type: model_quality, group: Climate!, max_ratio: 3}\n", "group"),
        (
            "name: x\ncondition: {type: model_quality, group: climate, max_ratio: 3, "
            "expected_false_alarms_per_sensor_day: 0}\n",
            "expected_false_alarms_per_sensor_day",
        ),
        (
            "name: x\ncondition: {type: model_quality, group: climate, max_ratio: 3, "
            "clear_margin: 3}\n",
            r"clear_margin \(3\) must be less than max_ratio \(3\)",
        ),
    ],
)
def test_a_bad_rule_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_rules_file(path)
    assert "bad.yaml" in str(err.value)


def test_threshold_hysteresis_needs_the_margin_to_clear() -> None:
    rule = parse_rule(
        {
            "name": "hot",
            "condition": {
                "type": "threshold",
                "channel": "temperature",
                "above": 30,
                "clear_margin": 2,
            },
        },
        source="test",
    )
    cond = rule.condition
    assert cond.breached(30.5) and not cond.breached(30.0)  # type: ignore[union-attr]
    assert not cond.cleared(29.0) and cond.cleared(28.0)  # type: ignore[union-attr]


def test_the_shipped_rules_load() -> None:
    from sensorguard.alerting.rules import load_rules_dir

    shipped = Path(__file__).resolve().parents[3] / "infra" / "alerts"
    rules = load_rules_dir(shipped)
    assert {r.condition.type for r in rules} == {"anomaly", "deadman", "threshold"}


def test_the_example_rules_load_but_are_not_shipped() -> None:
    from sensorguard.alerting.rules import load_rules_dir

    folder = Path(__file__).resolve().parents[3] / "infra" / "alerts"
    examples = load_rules_file(folder / "examples.yaml.txt")
    assert {r.condition.type for r in examples} == {"data_quality", "consumer_lag", "model_quality"}
    shipped = {r.name for r in load_rules_dir(folder)}
    assert shipped.isdisjoint(r.name for r in examples)  # the demo never runs them
