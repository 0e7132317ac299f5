"""
### materialize_features

Keep Feast's online store current: export the latest features computed by the shared
transforms from the time-series store into the offline Parquet tables, then apply the
declarations of `features/` and materialize the newest row per sensor into the online store
(SQLite by default, Cassandra when `SENSORGUARD_FEAST_ONLINE_STORE_URL` says so).

Params: `days` (history exported; default the longest training window of the model specs),
`end` (ISO time; default now).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

DEFAULT_ARGS = {"owner": "sensorguard", "retries": 3, "retry_delay": timedelta(minutes=1)}


@dag(
    schedule="@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["sensorguard", "features", "feast"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={"days": None, "end": None},
)
def materialize_features() -> None:
    @task
    def export_features() -> dict[str, Any]:
        from sensorguard.pipelines import export_features
        from sensorguard.settings import get_settings

        params = get_current_context()["params"]
        return export_features(get_settings(), end=params["end"], days=params["days"])

    @task
    def materialize(exported: dict[str, Any]) -> dict[str, Any]:
        from sensorguard.pipelines import materialize_features
        from sensorguard.settings import get_settings

        return materialize_features(get_settings(), end=exported["end"])

    materialize(export_features())  # type: ignore[arg-type]


materialize_features()
