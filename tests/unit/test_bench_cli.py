"""`sensorguard bench`: lists the benchmarks, and a quick run writes rows with every field."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sensorguard.cli import build_app

FIELDS = {"name", "unit", "ours", "baseline", "ratio", "goal", "met"}


def test_list_names_every_benchmark() -> None:
    result = CliRunner().invoke(build_app(), ["bench", "--list"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert {"ingest", "writer", "stream", "serving", "feast", "detectors", "backtest"} <= set(names)
    assert {"mqtt-e2e", "demo"} <= set(names)


def test_a_quick_benchmark_writes_rows_and_metadata(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["bench", "backtest", "--quick", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "latest.json").read_text())
    assert payload["rows"], payload
    for row in payload["rows"]:
        assert set(row) >= FIELDS, row
        assert row["benchmark"] == "backtest"
    assert {"when", "python", "machine", "cpus", "versions"} <= set(payload["meta"])
    assert (tmp_path / "README.md").read_text().startswith("# Benchmarks")


def test_an_unknown_benchmark_is_refused() -> None:
    result = CliRunner().invoke(build_app(), ["bench", "no-such-bench"])
    assert result.exit_code != 0
    assert "no-such-bench" in result.output
