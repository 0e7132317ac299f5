"""Every DAG file parses cleanly, cheaply and without touching a database or the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dag_helpers import DAGS, run_tool

EXPECTED = {"train_detectors", "materialize_features", "check_drift"}


@pytest.fixture(scope="module")
def parsed(airflow_env: dict[str, str]) -> dict[str, Any]:
    return run_tool(airflow_env, "parse", str(DAGS), timeout=300)


def test_dag_files_import_without_errors(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert set(parsed["dags"]) == EXPECTED
    assert {p.stem for p in DAGS.glob("*.py")} == EXPECTED


def test_file_stem_is_the_dag_id(parsed: dict[str, Any]) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["file_stem"] == dag_id


def test_tags_docs_and_retries(parsed: dict[str, Any]) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert "sensorguard" in dag["tags"], dag_id
        assert dag["doc_md"].lstrip().startswith(f"### {dag_id}")
        assert dag["retries"] and all(r >= 1 for r in dag["retries"].values()), dag["retries"]


def test_training_is_mapped_per_group(parsed: dict[str, Any]) -> None:
    assert set(parsed["dags"]["train_detectors"]["mapped"]) == {
        "train",
        "evaluate",
        "register",
        "promote",
    }


def test_parsing_imports_no_heavy_library(parsed: dict[str, Any]) -> None:
    # With sockets, sqlite3 and Variable.get made to raise, any parse-time access would have
    # shown up as an import error above; heavy imports belong inside the task bodies.
    assert parsed["heavy_imports"] == []


def test_the_guards_catch_a_dag_that_misbehaves_at_parse_time(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "greedy.py").write_text(
        "import sqlite3\nimport pandas\nfrom airflow.sdk import dag\n"
        "sqlite3.connect('x.db')\n\n@dag(schedule=None)\ndef greedy():\n    pass\n\ngreedy()\n"
    )
    (tmp_path / "chatty.py").write_text(
        "from airflow.sdk import Variable, dag\nVariable.get('threshold')\n\n"
        "@dag(schedule=None)\ndef chatty():\n    pass\n\nchatty()\n"
    )
    result = run_tool(airflow_env, "parse", str(tmp_path), timeout=300)
    errors = result["import_errors"]
    assert {Path(f).name for f in errors} == {"greedy.py", "chatty.py"}
    assert all("ParseTimeAccess" in text for text in errors.values())
    assert result["dags"] == {}
    assert "pandas" in result["heavy_imports"]
