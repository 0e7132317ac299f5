"""The quality gate and the registry: worse candidates stay out, rollback restores, aliases only."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from model_helpers import FAST_SPECS, stored_fleet

from sensorguard.champion import (
    CHAMPION,
    PREVIOUS,
    Candidate,
    champion_version,
    decide,
    force_promote,
    rollback,
    version_by_alias,
)
from sensorguard.errors import NotFound
from sensorguard.specs import GatePolicy
from sensorguard.training.labels import from_simulation
from sensorguard.training.tracking import mlflow_client


def report(
    event_recall: float, pr_auc: float = 0.5, f1: float = 0.3, alarms: float = 1.0
) -> dict[str, Any]:
    return {
        "event_recall": event_recall,
        "pr_auc": pr_auc,
        "f1": f1,
        "false_alarms_per_sensor_day": alarms,
    }


POLICY = GatePolicy(
    metric="event_recall", min_pr_auc=0.1, min_event_recall=0.3, max_false_alarms_per_sensor_day=10
)


def test_best_passing_candidate_is_promoted_without_a_champion() -> None:
    decision = decide(
        [Candidate("1", "hbos", report(0.9, pr_auc=0.05)), Candidate("2", "ecod", report(0.6))],
        None,
        POLICY,
    )
    # v1 has the higher recall but fails the PR-AUC floor.
    assert decision.promote and decision.best is not None and decision.best.version == "2"
    assert decision.failures["1"] == ["pr_auc 0.050 < 0.1"]


def test_a_worse_candidate_does_not_replace_the_champion() -> None:
    decision = decide([Candidate("3", "hbos", report(0.5))], ("2", report(0.7)), POLICY)
    assert not decision.promote
    assert "does not beat champion v2" in decision.reasons[0]


def test_a_better_candidate_replaces_the_champion_only_past_the_margin() -> None:
    candidates = [Candidate("3", "hbos", report(0.75))]
    assert decide(candidates, ("2", report(0.7)), POLICY).promote
    strict = POLICY.model_copy(update={"min_improvement": 0.1})
    assert not decide(candidates, ("2", report(0.7)), strict).promote


def test_ties_are_broken_by_pr_auc() -> None:
    better = decide(
        [Candidate("3", "hbos", report(0.7, pr_auc=0.6))], ("2", report(0.7, pr_auc=0.5)), POLICY
    )
    worse = decide(
        [Candidate("3", "hbos", report(0.7, pr_auc=0.4))], ("2", report(0.7, pr_auc=0.5)), POLICY
    )
    assert better.promote and "tie-break" in better.reasons[0]
    assert not worse.promote and "tie-break lost" in worse.reasons[0]


def test_too_many_false_alarms_fail_the_gate() -> None:
    decision = decide([Candidate("1", "hbos", report(0.9, alarms=30))], None, POLICY)
    assert not decision.promote
    assert "false_alarms_per_sensor_day 30.00 > 10" in decision.reasons[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Climate trained twice on the same data: a normal run, then a deliberately blind one."""
    from sensorguard.pipelines.training import run_training

    root = tmp_path_factory.mktemp("registry")
    settings, sim = stored_fleet(
        root / "sg",
        FAST_SPECS,
        sensors=4,
        sites=1,
        days=3,
        seed=21,
        fault_rate=3,
        sensor_types=("climate",),
    )
    labels = from_simulation(sim.labels)
    first = run_training(settings, group="climate", end=sim.end, labels=labels)[0]
    # Same candidates, but a threshold so high that almost nothing is flagged, and no floors:
    # only the comparison with the re-scored champion can keep them out.
    blind = root / "blind_specs"
    shutil.copytree(FAST_SPECS, blind)
    with (blind / "climate.yaml").open("a") as handle:
        handle.write(
            "scoring: {open_level: 250, hold_level: 250}\n"
            "gate: {min_pr_auc: 0, min_event_recall: 0, max_false_alarms_per_sensor_day: null}\n"
        )
    blind_settings = settings.model_copy(update={"model_specs_dir": blind})
    second = run_training(blind_settings, group="climate", end=sim.end, labels=labels)[0]
    return {"settings": settings, "first": first, "second": second}


def test_gate_keeps_the_champion_when_the_new_candidates_are_worse(
    registry: dict[str, Any],
) -> None:
    first, second = registry["first"]["decision"], registry["second"]["decision"]
    assert first["promoted"]
    assert not second["promoted"]
    assert second["champion_version"] == first["champion_version"]
    assert "does not beat champion" in second["reasons"][0]
    # The champion was re-scored on the second run's evaluation rows, not trusted from its tags.
    rescored = registry["second"]["evaluated"]["champion"]
    assert rescored["version"] == first["champion_version"]
    client = mlflow_client(registry["settings"])
    best = client.get_model_version("sensorguard-climate", second["best_version"])
    assert best.tags["compared_with_champion"] == first["champion_version"]
    assert best.tags["gate"].startswith("not promoted")


def test_manual_promotion_then_rollback_restores_the_previous_champion(
    registry: dict[str, Any],
) -> None:
    client = mlflow_client(registry["settings"])
    original = registry["first"]["decision"]["champion_version"]
    other = next(v for v in registry["second"]["decision"]["versions"] if v != original)
    assert force_promote(client, "climate", other) == original
    assert str(champion_version(client, "climate").version) == other  # type: ignore[union-attr]
    assert str(version_by_alias(client, "climate", PREVIOUS).version) == original  # type: ignore[union-attr]
    demoted, restored = rollback(client, "climate")
    assert (demoted, restored) == (other, original)
    current = champion_version(client, "climate")
    assert current is not None and str(current.version) == original and CHAMPION in current.aliases
    assert "rolled_back_at" in client.get_model_version("sensorguard-climate", other).tags
    # Nothing older to go back to: @previous is gone and a second rollback says so.
    assert version_by_alias(client, "climate", PREVIOUS) is None
    with pytest.raises(NotFound, match="previous champion"):
        rollback(client, "climate")


def test_no_version_uses_deprecated_stages(registry: dict[str, Any]) -> None:
    client = mlflow_client(registry["settings"])
    for mv in client.search_model_versions("name='sensorguard-climate'"):
        assert mv.current_stage in (None, "None")
