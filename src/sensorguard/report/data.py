"""What the report shows, read from a data folder: records, not the stores' own objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.alerting.records import Alert
    from sensorguard.schemas import Sensor
    from sensorguard.settings import Settings
    from sensorguard.training.labels import LabelWindow

STEPS_FILE = "demo-steps.json"


@dataclass(frozen=True)
class StepTime:
    """One step of the demo: what it did and how long it took."""

    step: str
    result: str
    seconds: float


@dataclass(frozen=True)
class DriftRow:
    """One drift check as its MLflow run recorded it; `report` is its Evidently HTML file."""

    group: str
    window_start: datetime
    window_end: datetime
    champion_version: str
    drifted: bool
    retrain: bool
    drifted_share: float | None
    score_shift: float | None
    reasons: tuple[str, ...]
    report: Path | None
    features: tuple[tuple[str, float, bool], ...]


@dataclass(frozen=True)
class ReportData:
    data_dir: Path
    start: datetime
    end: datetime
    sensors: list[Sensor]
    readings: pd.DataFrame  # sensor_id, ts, one column per channel
    scores: pd.DataFrame  # sensor_id, ts, score, flag, threshold, model, model_version, kind
    alerts: list[Alert]
    labels: list[LabelWindow]
    versions: list[dict[str, Any]]  # champion.version_rows of every group
    drift: list[DriftRow]
    steps: list[StepTime]


def report_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def report_path(settings: Settings) -> Path:
    """Where the demo writes its report (the drift reports sit beside it, in drift/)."""
    return report_dir(settings) / "demo.html"


def demo_labels_path(settings: Settings) -> Path:
    """The simulator's fault windows the demo leaves for later trainings and this report."""
    return settings.data_dir / "labels.csv"


def write_steps(settings: Settings, steps: Sequence[StepTime]) -> Path:
    path = report_dir(settings) / STEPS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(s) for s in steps], indent=2), encoding="utf-8")
    return path


def _steps(settings: Settings) -> list[StepTime]:
    path = report_dir(settings) / STEPS_FILE
    if not path.is_file():
        return []
    return [StepTime(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def _labels(settings: Settings) -> list[LabelWindow]:
    from sensorguard.training.labels import read_labels_csv

    for path in (settings.labels_path, demo_labels_path(settings)):
        if path is not None and path.is_file():
            return read_labels_csv(path)
    return []


def _frames(settings: Settings, ids: list[str], start: datetime, end: datetime) -> tuple[Any, Any]:
    import pandas as pd

    from sensorguard.wiring import open_configured_store

    store = open_configured_store(settings)
    try:
        readings = store.read_readings(ids, start, end)
        scores = store.read_scores(ids, start, end)
    finally:
        store.close()
    reading_frame = pd.DataFrame(
        [{"sensor_id": r.sensor_id, "ts": r.ts, **r.channels} for r in readings],
        columns=None if readings else ["sensor_id", "ts"],
    )
    score_columns = [
        "sensor_id",
        "ts",
        "score",
        "flag",
        "threshold",
        "model",
        "model_version",
        "kind",
    ]
    score_frame = pd.DataFrame(
        [[getattr(s, c) for c in score_columns] for s in scores], columns=score_columns
    )
    for frame in (reading_frame, score_frame):
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return reading_frame, score_frame


def _versions(settings: Settings) -> list[dict[str, Any]]:
    from sensorguard.champion import registered_groups, version_rows
    from sensorguard.training.tracking import mlflow_client

    client = mlflow_client(settings)
    return [row for group in registered_groups(client) for row in version_rows(client, group)]


def _drift(settings: Settings) -> list[DriftRow]:
    """Every drift check's run in the `sensorguard.drift` experiment, oldest first."""
    import mlflow.artifacts

    from sensorguard.drift.check import DRIFT_EXPERIMENT
    from sensorguard.training.tracking import mlflow_client

    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(DRIFT_EXPERIMENT)
    if experiment is None:
        return []
    rows = []
    for run in client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"]):
        check: dict[str, Any] = mlflow.artifacts.load_dict(
            f"{run.info.artifact_uri}/drift_check.json"
        )
        report = Path(check["report_path"]) if check.get("report_path") else None
        rows.append(
            DriftRow(
                group=check["group"],
                window_start=datetime.fromisoformat(check["window_start"]),
                window_end=datetime.fromisoformat(check["window_end"]),
                champion_version=str(check.get("champion_version") or ""),
                drifted=bool(check["drifted"]),
                retrain=bool(check["retrain"]),
                drifted_share=check.get("drifted_share"),
                score_shift=check.get("score_shift"),
                reasons=tuple(check.get("reasons") or ()),
                report=report if report is not None and report.is_file() else None,
                features=tuple(
                    (f["column"], float(f["score"]), bool(f["drifted"]))
                    for f in check.get("features") or ()
                ),
            )
        )
    return rows


def load_report_data(
    settings: Settings, *, days: float = 14.0, end: datetime | None = None
) -> ReportData:
    """Everything the report shows of the `days` before `end` (default: now)."""
    from sensorguard.alerting.store import AlertStore
    from sensorguard.schemas import utc_now
    from sensorguard.wiring import open_configured_metadata

    stop = end or utc_now()
    start = stop - timedelta(days=days)
    metadata = open_configured_metadata(settings)
    try:
        sensors = metadata.list_sensors()
    finally:
        metadata.close()
    readings, scores = _frames(settings, [s.sensor_id for s in sensors], start, stop)
    alert_store = AlertStore.from_settings(settings)
    try:
        alerts = alert_store.history(start=start, end=stop, limit=100_000)
    finally:
        alert_store.close()
    return ReportData(
        data_dir=settings.data_dir,
        start=start,
        end=stop,
        sensors=sensors,
        readings=readings,
        scores=scores,
        alerts=alerts,
        labels=_labels(settings),
        versions=_versions(settings),
        drift=_drift(settings),
        steps=_steps(settings),
    )
