"""The gate's floors and false-alarm cap: over the cap fails, at it passes, unknown fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sensorguard.champion import Candidate, decide, floor_failures
from sensorguard.specs import GatePolicy, load_specs

SHIPPED = Path(__file__).resolve().parents[3] / "models"
POLICY = GatePolicy(metric="event_recall", min_pr_auc=0.1, min_event_recall=0.3)


def report(alarms: float | None, *, sensor_days: float = 3.0) -> dict[str, Any]:
    """An evaluation report that passes every floor; only the false-alarm rate varies."""
    return {
        "f1": 0.4,
        "pr_auc": 0.5,
        "event_recall": 0.8,
        "sensor_days": sensor_days,
        "false_alarms_per_sensor_day": alarms,
    }


def unknown(evaluated: str) -> str:
    return f"false_alarms_per_sensor_day unknown ({evaluated}): cannot show it stays <= 2"


def test_the_cap_is_on_by_default_and_in_the_shipped_defaults() -> None:
    assert GatePolicy().max_false_alarms_per_sensor_day == 2.0
    for spec in load_specs(SHIPPED).values():
        assert spec.gate.max_false_alarms_per_sensor_day == 2.0, spec.group


def test_above_the_cap_fails_naming_the_value_and_the_cap() -> None:
    assert floor_failures(report(2.5), POLICY) == ["false_alarms_per_sensor_day 2.50 > 2"]
    decision = decide([Candidate("1", "hbos", report(2.5))], None, POLICY)
    assert not decision.promote
    assert decision.reasons == [
        "no candidate passes the spec's minimums",
        "best v1 (hbos): false_alarms_per_sensor_day 2.50 > 2",
    ]


@pytest.mark.parametrize("alarms", [0.0, 1.2, 2.0, 2])
def test_at_or_below_the_cap_passes(alarms: float) -> None:
    assert floor_failures(report(alarms), POLICY) == []
    decision = decide([Candidate("1", "hbos", report(alarms))], None, POLICY)
    assert decision.promote and decision.best is not None and decision.best.version == "1"


def test_an_unknown_rate_fails_with_its_reason() -> None:
    unmeasured = report(None, sensor_days=0.0)
    expected = unknown("no sensor-days evaluated")
    assert floor_failures(unmeasured, POLICY) == [expected]
    decision = decide([Candidate("1", "hbos", unmeasured)], None, POLICY)
    assert not decision.promote
    assert decision.failures == {"1": [expected]}
    assert decision.reasons[1] == f"best v1 (hbos): {expected}"


@pytest.mark.parametrize("alarms", [float("nan"), True, "3"])
def test_a_rate_that_is_not_a_number_counts_as_unknown(alarms: object) -> None:
    problems = floor_failures({**report(None), "false_alarms_per_sensor_day": alarms}, POLICY)
    assert problems == [unknown("3 sensor-days evaluated")]


def test_a_report_without_the_rate_fails_under_a_cap() -> None:
    bare = {"f1": 0.4, "pr_auc": 0.5, "event_recall": 0.8}
    assert floor_failures(bare, POLICY) == [unknown("no sensor-days evaluated")]


def test_an_explicit_null_lifts_the_cap() -> None:
    uncapped = POLICY.model_copy(update={"max_false_alarms_per_sensor_day": None})
    assert floor_failures(report(None), uncapped) == []
    assert floor_failures(report(50.0), uncapped) == []


def test_a_quiet_candidate_is_preferred_over_a_noisy_better_one() -> None:
    noisy = {**report(9.0), "event_recall": 0.95}
    decision = decide(
        [Candidate("1", "hbos", noisy), Candidate("2", "ecod", report(1.0))], None, POLICY
    )
    assert decision.promote and decision.best is not None and decision.best.version == "2"
    assert decision.failures == {"1": ["false_alarms_per_sensor_day 9.00 > 2"], "2": []}


def recall(value: float) -> dict[str, Any]:
    return {**report(0.5), "event_recall": value}


def test_the_best_is_chosen_on_selection_rows_and_judged_on_the_others() -> None:
    # v2 wins the selection rows by luck; on the comparison rows v1 would have been better,
    # but the choice is made: v2 is judged on rows its choice never saw.
    lucky = Candidate("2", "ecod", recall(0.4), selection=recall(0.9))
    steady = Candidate("1", "hbos", recall(0.7), selection=recall(0.8))
    decision = decide([steady, lucky], None, POLICY)
    assert decision.best is lucky and decision.promote
    assert decision.best_score == 0.4  # the comparison rows' figure, not the selection's


def test_a_choice_that_fails_on_the_comparison_rows_is_not_promoted() -> None:
    lucky = Candidate("2", "ecod", recall(0.1), selection=recall(0.9))
    steady = Candidate("1", "hbos", recall(0.7), selection=recall(0.8))
    decision = decide([steady, lucky], None, POLICY)
    assert not decision.promote and decision.best is lucky
    assert "event_recall 0.100 < 0.3" in decision.reasons[-1]


def test_the_champion_is_compared_on_the_comparison_rows() -> None:
    chosen = Candidate("3", "tail_max", recall(0.6), selection=recall(0.95))
    decision = decide([chosen], ("2", recall(0.7)), POLICY)
    assert not decision.promote
    assert "0.600 does not beat champion v2 0.700" in decision.reasons[0]
