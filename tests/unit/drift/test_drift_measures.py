"""measure_drift and judge on synthetic frames: Evidently's distances, the policy's verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from drift_helpers import frame

from sensorguard.drift.measure import judge, measure_drift
from sensorguard.drift.records import DriftCheck
from sensorguard.errors import ValidationFailed
from sensorguard.specs import DriftPolicy

POLICY = DriftPolicy()


def test_same_distribution_is_not_drift(tmp_path: Path) -> None:
    html = tmp_path / "reports" / "same.html"
    measures = measure_drift(
        frame(5000, seed=1), frame(2000, seed=2), ["a", "b", "c"], POLICY, html_path=html
    )
    drifted, reasons = judge(measures, POLICY)
    assert not drifted, reasons
    assert measures.drifted_share == 0
    assert all(c.score < 0.1 for c in measures.features), measures.features
    assert measures.score_shift is not None and measures.score_shift < 0.1
    assert html.is_file() and html.stat().st_size > 10_000
    assert measures.report_path == str(html.absolute())


def test_shifted_means_drift_and_name_the_features() -> None:
    measures = measure_drift(
        frame(5000, seed=1), frame(2000, seed=2, shift=1.5), ["a", "b", "c"], POLICY
    )
    drifted, reasons = judge(measures, POLICY)
    scores = {c.column: c for c in measures.features}
    assert scores["a"].drifted and scores["b"].drifted and not scores["c"].drifted
    assert scores["a"].score == pytest.approx(1.5, abs=0.15)
    assert measures.drifted_share == pytest.approx(2 / 3)
    assert drifted
    assert reasons[0].startswith("2 of 3 features drifted")
    assert "a 1." in reasons[0] and "b 1." in reasons[0]


def test_score_shift_and_flag_rate_rise_are_reasons_of_their_own() -> None:
    reference = frame(5000, seed=1, flag_rate=0.02)
    current = frame(2000, seed=2, flag_rate=0.10).assign(score=lambda f: f["score"] + 2.0)
    measures = measure_drift(reference, current, ["a", "b", "c"], POLICY)
    drifted, reasons = judge(measures, POLICY)
    assert drifted and measures.drifted_share == 0
    assert measures.score_shift is not None and measures.score_shift > 1.5
    assert [r.split(" ")[0] for r in reasons] == ["score", "flag"], reasons
    # A limit set to None is not judged; fewer flags is no drift by itself.
    lenient = DriftPolicy(max_score_shift=None, max_flag_rate_ratio=None)
    assert judge(measures, lenient) == (False, [])
    fewer = measure_drift(current.assign(score=reference["score"][:2000]), reference, ["a"], POLICY)
    assert not any(r.startswith("flag") for r in judge(fewer, POLICY)[1])


def test_columns_without_values_are_left_out_and_missing_ones_refused() -> None:
    reference = frame(1000, seed=1).assign(d=np.nan)
    measures = measure_drift(reference, frame(1000, seed=2).assign(d=np.nan), ["a", "d"], POLICY)
    assert [c.column for c in measures.features] == ["a"]
    assert measures.skipped_columns == ("d",)
    with pytest.raises(ValidationFailed, match="drift columns must be a column of both"):
        measure_drift(reference, frame(1000, seed=2), ["a", "d", "e"], POLICY)


def test_the_record_says_its_trigger_reason_and_round_trips_to_json() -> None:
    import json
    from datetime import UTC, datetime

    check = DriftCheck(
        group="climate",
        status="checked",
        window_start=datetime(2026, 3, 3, tzinfo=UTC),
        window_end=datetime(2026, 3, 4, tzinfo=UTC),
        drifted=True,
        retrain=True,
        reasons=("score shift 4.47 >= 0.5", "flag rate 1.0% -> 9.0% (>= 3 x 1.0%)"),
        reference_flag_rate=0.01,
        current_flag_rate=0.09,
    )
    assert check.trigger_reason == (
        "drift: climate: score shift 4.47 >= 0.5; flag rate 1.0% -> 9.0% (>= 3 x 1.0%)"
    )
    out = json.loads(json.dumps(check.to_dict()))
    assert out["trigger_reason"] == check.trigger_reason
    assert out["flag_rate_change"] == pytest.approx(0.08)
    assert out["window_end"] == "2026-03-04T00:00:00+00:00"
