"""Airflow for the DAG tests: a metadata DB migrated once per session in a temporary AIRFLOW_HOME."""

from __future__ import annotations

import os
import subprocess

import pytest
from dag_helpers import AIRFLOW, DAGS


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of child processes that run Airflow against a freshly migrated DB."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    # dag.test() needs the metadata tables; without them every task fails quietly.
    done = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return env
