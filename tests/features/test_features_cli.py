"""`sensorguard features export|apply|materialize|online` through Typer's CliRunner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sensorguard.cli.features import app
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import get_settings
from sensorguard.simulate import SimulationConfig, simulate_fleet

FAST_SPECS = Path(__file__).resolve().parents[1] / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)

runner = CliRunner()


def test_export_apply_materialize_online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(FAST_SPECS))
    get_settings.cache_clear()
    settings = get_settings()
    sim = simulate_fleet(
        SimulationConfig(
            sensors=2, sites=1, days=1, seed=4, start=START, sensor_types=("climate", "acoustic")
        )
    )
    stored = seed_simulation(settings, sim).stored  # out-of-range readings are refused
    end = (START + timedelta(days=1)).isoformat()

    exported = runner.invoke(app, ["export", "--days", "1", "--end", end, "--json"])
    assert exported.exit_code == 0, exported.output
    tables = json.loads(exported.stdout)["tables"]
    assert {t["rows"] for t in tables.values()} == {stored}

    applied = runner.invoke(app, ["apply"])
    assert applied.exit_code == 0, applied.output
    assert "sensor_window_stats_fv:" in applied.stdout and "detector_inputs_fs" in applied.stdout

    done = runner.invoke(app, ["materialize", "--end", end, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["views"] == ["sensor_window_stats_fv", "sensor_channel_state_fv"]

    online = runner.invoke(app, ["online", "th-001", "snd-002", "--json"])
    assert online.exit_code == 0, online.output
    rows = {r["sensor_id"]: r for r in json.loads(online.stdout)}
    assert rows["th-001"]["temperature__flat_len"] >= 1
    assert rows["snd-002"]["temperature__flat_len"] is None  # acoustic sensors have no temperature


def test_apply_without_export_exits_with_a_hint() -> None:
    result = runner.invoke(app, ["apply"])
    assert result.exit_code == 1
    assert "run `sensorguard features export` first" in result.output
