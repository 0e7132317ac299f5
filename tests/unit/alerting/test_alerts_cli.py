"""`sensorguard alerts`: load rules, dry-run one over stored data, acknowledge and resolve."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerting_helpers import SENSORS
from typer.testing import CliRunner

from sensorguard.alerting.store import AlertStore
from sensorguard.cli import build_app
from sensorguard.schemas import Reading, Score
from sensorguard.settings import Settings, get_settings
from sensorguard.wiring import open_configured_metadata, open_configured_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RULES = """
rules:
  - name: hot
    selector: {sensor_types: [climate]}
    condition: {type: threshold, channel: temperature, above: 30, for_s: 120}
  - name: stuck
    condition: {type: anomaly, kinds: [stuck], min_duration_s: 60}
  - name: silent
    selector: {sites: [plant-1]}
    condition: {type: deadman, silent_minutes: 30}
"""


def cli(*args: str) -> str:
    get_settings.cache_clear()
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


def platform(settings: Settings) -> None:
    """Two hours of th-1 with a 20-minute heat wave, th-2 normal and a stuck stretch."""
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(SENSORS, actor="test")
    metadata.close()
    store = open_configured_store(settings)
    readings, scores = [], []
    for i in range(120):
        ts = T0 + timedelta(minutes=i)
        hot = 60 <= i < 80
        readings.append(
            Reading(sensor_id="th-1", ts=ts, channels={"temperature": 35 if hot else 21})
        )
        readings.append(Reading(sensor_id="th-2", ts=ts, channels={"temperature": 21}))
        stuck = 30 <= i < 50
        scores.append(
            Score(
                sensor_id="th-2",
                ts=ts,
                score=5.0 if stuck else 0.5,
                flag=stuck,
                threshold=3.0,
                model="m",
                model_version="1",
                kind="stuck" if stuck else "",
            )
        )
    store.write_readings(readings)
    store.write_scores(scores)
    store.close()


def test_dry_run_says_what_each_rule_would_have_raised(tmp_path: Path) -> None:
    settings = get_settings()
    platform(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    assert "stored 3 rules" in cli("alerts", "load", str(rules))
    end = (T0 + timedelta(hours=2)).isoformat()

    def would(rule: str) -> dict[str, object]:
        # The replay starts seconds before the first stored reading.
        out = cli("alerts", "dry-run", rule, "--days", "0.0835", "--end", end, "--json")
        return dict(json.loads(out))

    hot = would("hot")
    assert hot["by_sensor"] == {"th-1": 1} and hot["sensors"] == 2
    assert would("stuck")["by_sensor"] == {"th-2": 1}
    # snd-1 at plant-1 never reported in the replayed hours; th-1 did until the end.
    assert would("silent")["by_sensor"] == {"snd-1": 1}
    assert "would have raised" in cli("alerts", "dry-run", "hot", "--days", "1", "--end", end)
    # A dry run opens nothing.
    store = AlertStore.from_settings(settings)
    assert store.history() == []
    store.close()


def test_acknowledge_silences_and_resolve_closes(tmp_path: Path) -> None:
    settings = get_settings()
    platform(settings)
    store = AlertStore.from_settings(settings)
    alert, _ = store.trigger("hot", "th-1", site="plant-1", summary="too hot")
    store.close()
    assert "1 active alerts" in cli("alerts", "active")
    assert "acknowledged (silence" in cli("alerts", "ack", str(alert.alert_id))
    assert json.loads(cli("alerts", "active", "--json"))[0]["state"] == "acknowledged"
    assert "resolved" in cli("alerts", "resolve", str(alert.alert_id))
    assert json.loads(cli("alerts", "active", "--json")) == []
    history = json.loads(
        cli("alerts", "history", "--sensor", "th-1", "--hours", "1000000", "--json")
    )
    assert [a["state"] for a in history] == ["resolved"]
