"""`sensorguard simulate`: options reach the simulation, files are reproducible, errors are clear."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from simulate_helpers import ingest_app, serving
from typer.testing import CliRunner

from sensorguard.cli import build_app
from sensorguard.simulate import SimulationConfig, load_simulation, simulate_fleet

runner = CliRunner()
ARGS = [
    "simulate",
    "-n",
    "4",
    "--sites",
    "2",
    "--days",
    "0.25",
    "--seed",
    "3",
    "--start",
    "2024-05-06T00:00:00",
]


def test_writes_reproducible_files_and_a_summary(tmp_path: Path) -> None:
    app = build_app()
    first = runner.invoke(
        app, [*ARGS, "--faults", "spike,stuck", "--fault-rate", "8", "-o", str(tmp_path / "a")]
    )
    second = runner.invoke(
        app, [*ARGS, "--faults", "spike,stuck", "--fault-rate", "8", "-o", str(tmp_path / "b")]
    )
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "th-001" in first.output and "Faults by kind" in first.output
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    sim = load_simulation(tmp_path / "a")
    assert len(sim.sensors) == 4
    assert (
        sim.config.start is not None and sim.config.start.isoformat() == "2024-05-06T00:00:00+00:00"
    )
    assert {label.kind.value for label in sim.labels} <= {"spike", "stuck"}
    assert sim.labels


def test_unknown_fault_kind_is_refused() -> None:
    result = runner.invoke(build_app(), [*ARGS, "--faults", "spike,gremlins"])
    assert result.exit_code == 2
    assert "gremlins" in result.output


def test_inconsistent_options_are_refused() -> None:
    result = runner.invoke(build_app(), ["simulate", "-n", "2", "--sites", "5"])
    assert result.exit_code == 2
    assert "sites must be at most sensors" in result.output


def test_importing_the_command_stays_light() -> None:
    code = (
        "import sys, sensorguard.cli.simulate; "
        "print(sorted(m for m in ('numpy', 'pandas', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_publishes_to_ingest_and_reports_totals() -> None:
    received: list[tuple[str, str]] = []
    sim = simulate_fleet(
        SimulationConfig(
            sensors=4, sites=2, days=0.25, seed=3, start=datetime(2024, 5, 6, tzinfo=UTC)
        )
    )
    with serving(ingest_app(sim, received, retry_after="0")) as url:
        result = runner.invoke(build_app(), [*ARGS, "--publish", url, "--batch-size", "200"])
    assert result.exit_code == 0, result.output
    assert "HTTP 429" in result.output and "Published" in result.output
    assert sorted(received) == sorted((raw["sensor_id"], raw["ts"]) for raw in sim.iter_raw())
