"""notebooks/ executed as a user would after `make demo`: each cell runs against the demo's data
(a fresh demo in a folder of its own), and a notebook that raises fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("notebooks") / "sg"
    env = {**os.environ, "SENSORGUARD_DATA_DIR": str(data), "SENSORGUARD_ENV": "development"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sensorguard"), "demo", "--fresh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield data


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"01_fleet.ipynb", "02_detectors.ipynb", "03_alert.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_on_the_demos_data(
    path: Path, demo_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this process's environment: the demo's data, nothing else.
    monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(demo_data))
    monkeypatch.setenv("SENSORGUARD_ENV", "development")
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [
        o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("execute_result", "display_data") for o in outputs)
