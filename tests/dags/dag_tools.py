"""Subprocess entry points of the DAG tests: parse the DAG folder under guards, or run dag.test().

Run in a child process so Airflow's configuration (AIRFLOW_HOME, DB engine) and the import
guards never leak into the pytest process.

    python dag_tools.py parse DAGS_FOLDER
    python dag_tools.py run DAG_FILE '{"run": "conf"}'
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

HEAVY = (
    "mlflow",
    "feast",
    "pyod",
    "sklearn",
    "pandas",
    "sensorguard.training",
    "sensorguard.pipelines.training",
)


class ParseTimeAccess(RuntimeError):
    """A DAG file touched a database, the network or a Variable while being parsed."""


def _guard(*_: Any, **__: Any) -> Any:
    raise ParseTimeAccess("DAG files must not open connections while they are parsed")


def parse(folder: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Variable

    # Everything Airflow itself needed is imported; from here on the DAG files run guarded.
    before = set(sys.modules)
    socket.socket.connect = _guard  # type: ignore[method-assign]
    socket.create_connection = _guard
    sqlite3.connect = _guard
    Variable.get = staticmethod(_guard)  # type: ignore[method-assign]
    bag = DagBag(dag_folder=folder)
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "file_stem": Path(dag.fileloc).stem,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md or "",
            "retries": {t.task_id: t.retries for t in dag.tasks},
            "mapped": sorted(
                t.task_id
                for t in dag.tasks
                if getattr(t, "is_mapped", False) or type(t).__name__ == "MappedOperator"
            ),
        }
    imported = sorted(
        m
        for m in set(sys.modules) - before
        if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
        and any(m == h or m.startswith(h + ".") for h in HEAVY)
    )
    return {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": dags,
        "heavy_imports": imported,
    }


def run(dag_file: str, conf: dict[str, Any]) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(Path(dag_file).stem, dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = getattr(module, Path(dag_file).stem)()
    for task in dag.tasks:
        # A failure should end the test run now, not after the production retry delays.
        task.retries = 0
    dag_run = dag.test(run_conf=conf)
    tasks = {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
        for ti in dag_run.get_task_instances()
    }
    return {"state": str(dag_run.state), "tasks": tasks, "other_runs": _other_runs(dag.dag_id)}


def _other_runs(dag_id: str) -> list[dict[str, Any]]:
    """Runs of other DAGs in the metadata DB: what a TriggerDagRunOperator queued."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id != dag_id)).all()
        return [
            {"dag_id": r.dag_id, "run_id": r.run_id, "state": str(r.state), "conf": r.conf}
            for r in runs
        ]


if __name__ == "__main__":
    if sys.argv[1] == "parse":
        result = parse(sys.argv[2])
    else:
        result = run(sys.argv[2], json.loads(sys.argv[3]))
    print("RESULT " + json.dumps(result))
