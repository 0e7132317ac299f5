"""Paths and the subprocess runner shared by the DAG tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
FAST_SPECS = ROOT / "tests" / "unit" / "training" / "fast_specs"
TOOLS = Path(__file__).resolve().parent / "dag_tools.py"
AIRFLOW = Path(sys.executable).with_name("airflow")


def run_tool(env: dict[str, str], *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run dag_tools.py in a child process; its RESULT line as a dict (plus the log tail)."""
    done = subprocess.run(
        [sys.executable, str(TOOLS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-4000:] + "\n" + done.stderr[-6000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    result["log"] = done.stdout[-6000:] + done.stderr[-6000:]
    return result
