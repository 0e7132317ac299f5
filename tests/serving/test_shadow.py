"""Challenger in shadow: scored beside the champion, compared, promoted only on evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from serving_helpers import Served, embedded, publish_live, score_stream
from typer.testing import CliRunner

from sensorguard.champion import CHALLENGER, champion_version, version_by_alias
from sensorguard.cli import build_app
from sensorguard.settings import get_settings
from sensorguard.training.tracking import mlflow_client


def specs_with_gate(tmp_path: Path, served: Served, gate: str) -> Path:
    specs = tmp_path / "specs"
    shutil.copytree(served.settings.model_specs_dir or "", specs)
    with (specs / "climate.yaml").open("a") as handle:
        handle.write(f"gate: {gate}\n")
    return specs


def cli(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def shadowed(served: Served) -> Served:
    """The served fleet's live hours scored by the champion and, in shadow, the other version."""
    client = mlflow_client(served.settings)
    champion = str(champion_version(client, "climate").version)  # type: ignore[union-attr]
    other = next(
        str(v.version)
        for v in client.search_model_versions("name='sensorguard-climate'")
        if str(v.version) != champion
    )
    from sensorguard.champion import set_challenger

    set_challenger(client, "climate", other, reason="shadow test")
    settings = embedded(served, "shadow-stream.db")
    publish_live(settings, served)
    stats = score_stream(settings, shadow=True)
    assert stats.shadow_scored == stats.scored > 0
    return served


def test_compare_shadow_shows_both_models_on_the_same_readings(
    shadowed: Served, served_env: Served
) -> None:
    end = shadowed.sim.end.isoformat()
    code, out = cli(
        "models", "compare", "climate", "--shadow", "--hours", "24", "--end", end, "--json"
    )
    assert code == 0, out
    found = json.loads(out)
    assert found["readings"] == len(shadowed.live_readings())
    assert found["champion"]["versions"] != found["challenger"]["versions"]
    assert 0 <= found["agreement"] <= 1
    code, table = cli("models", "compare", "climate", "--shadow", "--hours", "24", "--end", end)
    assert code == 0 and "would-be alerts" in table and "flag agreement" in table, table


def test_promoting_the_challenger_needs_enough_shadow_evidence(
    shadowed: Served, served_env: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = mlflow_client(shadowed.settings)
    champion = str(champion_version(client, "climate").version)  # type: ignore[union-attr]
    challenger = str(version_by_alias(client, "climate", CHALLENGER).version)  # type: ignore[union-attr]
    end = shadowed.sim.end.isoformat()
    monkeypatch.setenv(
        "SENSORGUARD_MODEL_SPECS_DIR",
        str(specs_with_gate(tmp_path, shadowed, "{shadow_hours: 100}")),
    )
    code, out = cli("models", "promote", "climate", "--challenger", "--end", end)
    assert code == 1 and "wants 100 h" in out, out
    assert str(champion_version(client, "climate").version) == champion  # type: ignore[union-attr]

    lenient = "{shadow_hours: 4, max_false_alarms_per_sensor_day: null}"
    monkeypatch.setenv(
        "SENSORGUARD_MODEL_SPECS_DIR", str(specs_with_gate(tmp_path / "b", shadowed, lenient))
    )
    try:
        code, out = cli("models", "promote", "climate", "--challenger", "--end", end)
        assert code == 0, out
        assert str(champion_version(client, "climate").version) == challenger  # type: ignore[union-attr]
        assert version_by_alias(client, "climate", CHALLENGER) is None
    finally:
        from sensorguard.champion import promote

        promote(client, "climate", champion, reason="test cleanup")
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(shadowed.settings)
    actions = [(e.action, e.detail.get("outcome")) for e in metadata.audit_log(limit=50)]
    metadata.close()
    assert ("model.promote_challenger", "refused") in actions
    assert ("model.promote_challenger", "promoted") in actions


def test_a_gate_wanting_shadow_evidence_makes_the_winner_challenger(
    served: Served, tmp_path: Path
) -> None:
    from sensorguard.champion import force_promote, promote
    from sensorguard.pipelines.training import run_training
    from sensorguard.training.labels import from_simulation

    client = mlflow_client(served.settings)
    champion = str(champion_version(client, "climate").version)  # type: ignore[union-attr]
    labels = from_simulation(served.sim.labels)

    def train(specs: Path) -> dict[str, object]:
        settings = served.settings.model_copy(update={"model_specs_dir": specs})
        (outcome,) = run_training(
            settings, group="climate", end=served.trained_until, labels=labels
        )
        decision: dict[str, object] = outcome["decision"]
        return decision

    # A champion that flags nothing, so that a normal candidate clearly beats it.
    blind = specs_with_gate(
        tmp_path / "blind",
        served,
        "{min_pr_auc: 0, min_event_recall: 0, max_false_alarms_per_sensor_day: null}",
    )
    with (blind / "climate.yaml").open("a") as handle:
        handle.write("scoring: {open_level: 250, hold_level: 250}\n")
    blind_version = train(blind)["versions"][0]  # type: ignore[index]
    try:
        force_promote(client, "climate", str(blind_version))
        decision = train(specs_with_gate(tmp_path / "shadow", served, "{shadow_hours: 6}"))
        assert not decision["promoted"], decision
        assert str(champion_version(client, "climate").version) == str(blind_version)  # type: ignore[union-attr]
        challenger = version_by_alias(client, "climate", CHALLENGER)
        assert challenger is not None and str(challenger.version) == decision["best_version"]
        assert any("is @challenger" in r for r in decision["reasons"])  # type: ignore[attr-defined]
    finally:
        promote(client, "climate", champion, reason="test cleanup")
        client.delete_registered_model_alias("sensorguard-climate", CHALLENGER)
