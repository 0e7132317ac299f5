"""The feedback loop on embedded defaults: verdicts on a window's alerts, one retraining, replay.

Three climate sensors, one reading a minute, five days: days 0-1 train the first champion,
day 2 is the window its alerts are raised in (the engine runs over the champion's scores in
event time, as live) and judged by an operator from the simulator's labels: an alert over a
labelled fault is a real fault, any other a false alarm. `sensorguard feedback check
--retrain` then retrains (days 0-2 train, day 3 evaluates) and the same window, re-scored by
the new champion, is replayed through the rule (`alerts/replay.py` dry run).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from drift_helpers import FAST_SPECS, START, days, with_defrost
from typer.testing import CliRunner

from sensorguard.alerting.engine import AlertEngine
from sensorguard.alerting.records import Alert
from sensorguard.alerting.replay import dry_run
from sensorguard.alerting.rules import AlertRule, load_rules_file
from sensorguard.alerting.store import AlertStore
from sensorguard.champion import champion_uri, champion_version
from sensorguard.cli import build_app
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.pipelines.training import run_training
from sensorguard.schemas import Score
from sensorguard.settings import Settings, get_settings, sqlite_path
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.specs import registered_model_name
from sensorguard.training.dataset import readings_frame
from sensorguard.training.labels import LabelWindow, from_simulation, write_labels_csv
from sensorguard.training.pyfunc import load_bundle
from sensorguard.training.tracking import mlflow_client
from sensorguard.wiring import open_configured_metadata, open_configured_store

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "infra" / "alerts" / "default.yaml"
WINDOW = (START + timedelta(days=2), START + timedelta(days=3))
GRACE = timedelta(seconds=1800)  # the fast specs' evaluation grace: a fault's echo
runner = CliRunner()


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(FAST_SPECS))
    monkeypatch.setenv("SENSORGUARD_LABELS_PATH", str(tmp_path / "labels.csv"))
    get_settings.cache_clear()
    return get_settings()


def _rule() -> AlertRule:
    return next(r for r in load_rules_file(RULES) if r.name == "sensor-fault")


def _score_window(settings: Settings) -> list[Score]:
    """The champion's verdicts on the window, each sensor's history before it as context,
    stored as the stream scorer stores them (an upsert replaces earlier scores)."""
    client = mlflow_client(settings)
    version = champion_version(client, "climate")
    assert version is not None
    bundle = load_bundle(champion_uri("climate"))
    metadata, store = open_configured_metadata(settings), open_configured_store(settings)
    try:
        ids = [s.sensor_id for s in metadata.list_sensors()]
        frame = readings_frame(
            store.read_readings(ids, START, WINDOW[1]), ["temperature", "humidity"]
        )
        verdicts = bundle.verdicts(frame)
        inside = (frame["ts"] >= pd.Timestamp(WINDOW[0])).to_numpy()
        scores = [
            Score(
                sensor_id=frame["sensor_id"].iat[i],
                ts=frame["ts"].iat[i].to_pydatetime(),
                score=float(verdicts.score[i]),
                flag=bool(verdicts.flag[i]),
                threshold=float(verdicts.threshold),
                model=registered_model_name("climate"),
                model_version=str(version.version),
                kind=str(verdicts.kind[i]),
            )
            for i in range(len(frame))
            if inside[i]
        ]
        store.write_scores(scores)
    finally:
        store.close()
        metadata.close()
    return scores


def _live(settings: Settings, scores: list[Score]) -> list[Alert]:
    """The engine over the scores a minute at a time, its store's clock at event time, as it
    would have run live: alerts open and resolve when their flags say."""
    now = [WINDOW[0]]
    alerts = AlertStore(sqlite_path(settings.metadata_url), clock=lambda: now[0])
    metadata = open_configured_metadata(settings)
    try:
        engine = AlertEngine([_rule()], alerts, metadata, clock=lambda: now[0])
        ordered = sorted(scores, key=lambda s: s.ts)
        i = 0
        while now[0] < WINDOW[1]:
            now[0] += timedelta(minutes=1)
            batch = []
            while i < len(ordered) and ordered[i].ts < now[0]:
                batch.append(ordered[i])
                i += 1
            engine.on_scores(batch)
        return alerts.history(limit=10_000)
    finally:
        metadata.close()
        alerts.close()


def _is_real(alert: Alert, labels: list[LabelWindow]) -> bool:
    end = alert.resolved_at or WINDOW[1]
    return any(
        lab.sensor_id == alert.sensor_id and lab.start < end and lab.end + GRACE > alert.started_at
        for lab in labels
    )


def _alerted(labels: list[LabelWindow], alerts: list[Alert]) -> list[LabelWindow]:
    return [lab for lab in labels if any(_is_real(a, [lab]) for a in alerts)]


def _replay(settings: Settings) -> list[Alert]:
    metadata, store = open_configured_metadata(settings), open_configured_store(settings)
    try:
        return dry_run(_rule(), metadata, store, *WINDOW).alerts
    finally:
        store.close()
        metadata.close()


def _cli(*args: str) -> dict[str, Any]:
    done = runner.invoke(build_app(), [*args, "--json"] if args[0] == "feedback" else list(args))
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout) if args[0] == "feedback" else {"output": done.stdout}


def test_false_alarm_verdicts_and_one_retraining_quiet_the_replayed_window(
    platform: Settings,
) -> None:
    started = time.perf_counter()
    sim = simulate_fleet(
        SimulationConfig(
            sensors=3, sites=1, days=5, seed=7, fault_rate=2, start=START, sensor_types=("climate",)
        )
    )
    noisy = sim.sensors[0].sensor_id
    sim = with_defrost(sim, noisy, from_day=2, rise=3.0)
    labels = from_simulation(sim.labels)
    write_labels_csv(labels, platform.labels_path)
    seed_simulation(platform, days(sim, 0, 4))
    first = run_training(
        platform, group="climate", end=START + timedelta(days=2), trigger_reason="initial"
    )
    assert first[0]["decision"]["promoted"], first[0]["decision"]["reasons"]

    live = _live(platform, _score_window(platform))
    before = _replay(platform)
    assert len(before) == len(live)  # the dry run is what the engine raised
    in_window = [lab for lab in labels if lab.start < WINDOW[1] and lab.end > WINDOW[0]]
    real = [a for a in live if _is_real(a, labels)]
    false = [a for a in live if not _is_real(a, labels)]
    faults_alerted = _alerted(in_window, before)
    print(f"before: {len(live)} alerts, {len(real)} on faults, {len(false)} false alarms")
    print("by sensor:", Counter(a.sensor_id for a in false))
    assert false, "the champion raised no false alarm in the window: nothing to learn from"
    assert faults_alerted, "the champion alerted on no labelled fault in the window"

    # Nothing to retrain on before the verdicts.
    quiet = _cli("feedback", "check", "--group", "climate")
    assert quiet["checks"][0]["false_alarms"] == 0 and not quiet["checks"][0]["retrain"]
    for alert in live:
        verdict = "real_fault" if alert in real else "false_alarm"
        _cli("alerts", "verdict", str(alert.alert_id), verdict)
    listed = json.loads(_cli("alerts", "labels", "--verdict", "false_alarm", "--json")["output"])
    assert {lab["alert_id"] for lab in listed} == {a.alert_id for a in false}

    versions_before = champion_version(mlflow_client(platform), "climate")
    assert versions_before is not None
    checked = _cli(
        "feedback",
        "check",
        "--group",
        "climate",
        "--retrain",
        "--end",
        (START + timedelta(days=4)).isoformat(),
    )
    check = checked["checks"][0]
    assert check["false_alarms"] == len(false) and check["retrain"], check["reasons"]
    assert check["trigger_reason"] == f"feedback: {len(false)} false alarms on climate"
    [decision] = checked["retrained"]
    print("retraining:", json.dumps(decision, default=str))
    assert decision["promoted"], decision["reasons"]

    _score_window(platform)
    after = _replay(platform)
    false_after = [a for a in after if not _is_real(a, labels)]
    print(
        f"after: {len(after)} alerts, {len(false_after)} false alarms; on {noisy}: "
        f"{sum(a.sensor_id == noisy for a in before)} -> "
        f"{sum(a.sensor_id == noisy for a in after)}"
    )
    assert sum(a.sensor_id == noisy for a in after) < sum(a.sensor_id == noisy for a in before)
    assert len(false_after) < len(false)
    still = _alerted(faults_alerted, after)
    print(f"faults alerted: {len(faults_alerted)} before, {len(still)} after")
    assert still == faults_alerted
    print(f"loop took {time.perf_counter() - started:.1f} s")
