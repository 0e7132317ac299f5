"""Behaviour: the champion trained on one simulated fleet flags every fault kind on another.

The shipped `environment` spec (all three channels) is trained on six sensors over three days,
then its champion, loaded by alias, scores a different fleet (another seed, so other signals
and faults) from its raw readings. Every fault kind must be found at least RECALL_FLOOR of the
time, with false alarms bounded. Dropouts are seen through the gap feature on the first
reading after the gap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pandas as pd
import pytest
from model_helpers import SHIPPED_SPECS, START, stored_fleet

from sensorguard.champion import load_champion
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.training.evaluate import evaluate_verdicts
from sensorguard.training.labels import from_simulation, labels_in_span

KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst", "dropout")
RECALL_FLOOR = 0.5
MAX_FALSE_ALARMS_PER_SENSOR_DAY = 12.0
# The per-point z-score needs its baseline of readings (288) before it means anything.
WARM_UP = timedelta(hours=6)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sensorguard.pipelines.training import run_training

    settings, sim = stored_fleet(
        tmp_path_factory.mktemp("behaviour") / "sg",
        SHIPPED_SPECS,
        sensors=6,
        sites=2,
        days=3,
        seed=31,
        fault_rate=2,
        sensor_types=("environment",),
    )
    outcome = run_training(
        settings, group="environment", end=sim.end, labels=from_simulation(sim.labels)
    )[0]
    assert outcome["decision"]["promoted"], outcome["decision"]["reasons"]

    fresh = simulate_fleet(
        SimulationConfig(
            sensors=6,
            sites=2,
            days=2,
            seed=97,
            fault_rate=5,
            start=START + timedelta(days=10),
            sensor_types=("environment",),
            fault_kinds=KINDS,
        )
    )
    readings = fresh.readings[["sensor_id", "ts", "temperature", "humidity", "sound_level"]]
    out = cast(pd.DataFrame, load_champion("environment", settings).predict(readings))
    keep = (readings["ts"] >= pd.Timestamp(fresh.start + WARM_UP)).to_numpy()
    keys = readings.loc[keep, ["sensor_id", "ts"]]
    labels = labels_in_span(from_simulation(fresh.labels), fresh.start + WARM_UP, fresh.end)
    report = evaluate_verdicts(
        keys,
        out["score"].to_numpy()[keep],
        out["flag"].to_numpy()[keep],
        out["kind"].to_numpy(dtype=object)[keep],
        labels,
        grace_s=1800,
    )
    return {"report": report, "detector": outcome["decision"]["best_detector"]}


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_kind_is_flagged(scored: dict[str, Any], kind: str) -> None:
    stats = scored["report"]["per_kind"][kind]
    assert stats["events"] >= 3, f"too few {kind} events to judge: {stats}"
    assert stats["recall"] >= RECALL_FLOOR, f"{scored['detector']} on {kind}: {stats}"


def test_false_alarms_stay_bounded(scored: dict[str, Any]) -> None:
    alarms = scored["report"]["false_alarms_per_sensor_day"]
    assert alarms <= MAX_FALSE_ALARMS_PER_SENSOR_DAY, scored["report"]
