"""MLflow wiring from Settings: tracking URI, artifact root, one experiment per sensor group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sensorguard.settings import Settings

EXPERIMENT_PREFIX = "sensorguard-"


def artifact_root(settings: Settings) -> str:
    """Where new experiments keep artifacts: never the working directory's ./mlruns."""
    if settings.mlflow_artifact_root:
        return settings.mlflow_artifact_root
    return (settings.data_dir / "mlartifacts").absolute().as_uri()


def mlflow_client(settings: Settings) -> MlflowClient:
    """A client on the configured tracking/registry URI, also made the process default.

    MLflow's fluent API (start_run, log_model) only reads the process-wide URI, so it is set
    here, when a command or task asks for MLflow, never at import.
    """
    import os

    import mlflow
    from mlflow import MlflowClient

    # Per-file download bars would flood the CLI, the demo and Airflow task logs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_name(group: str) -> str:
    return f"{EXPERIMENT_PREFIX}{group}"


def ensure_experiment(client: MlflowClient, settings: Settings, group: str) -> str:
    """The id of the group's experiment, created with the configured artifact root if new."""
    name = experiment_name(group)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(
        client.create_experiment(
            name,
            artifact_location=f"{artifact_root(settings).rstrip('/')}/{name}",
            tags={"sensorguard.group": group},
        )
    )
