"""Registering a candidate against a real local MLflow: a retried registration adds no version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
import pytest
from mlflow.pyfunc.model import PythonModel

from sensorguard.champion import register_candidate
from sensorguard.settings import Settings
from sensorguard.specs import registered_model_name
from sensorguard.training.tracking import ensure_experiment, mlflow_client

if TYPE_CHECKING:
    from mlflow import MlflowClient

GROUP = "climate"
NAME = registered_model_name(GROUP)
TAGS = {"detector": "hbos", "validation_status": "pending", "metric.f1": 0.25}


class Zeros(PythonModel):
    """The smallest pyfunc model: a zero score per input row."""

    def predict(self, context: Any, model_input: list[float], params: Any = None) -> list[float]:
        return [0.0] * len(model_input)


@pytest.fixture
def client(settings: Settings) -> MlflowClient:
    """A client on this test's sqlite registry, artifacts under its tmp folder."""
    client = mlflow_client(settings)
    mlflow.set_experiment(experiment_id=ensure_experiment(client, settings, GROUP))
    return client


def logged(*names: str) -> tuple[str, list[str]]:
    """A new run logging one tiny model per name: (run id, model URIs)."""
    with mlflow.start_run() as run:
        uris = [
            mlflow.pyfunc.log_model(
                name=name, python_model=Zeros(), pip_requirements=["mlflow"]
            ).model_uri
            for name in names
        ]
    return run.info.run_id, uris


def versions(client: MlflowClient) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{NAME}'"))


def test_a_retried_registration_returns_the_same_version(client: MlflowClient) -> None:
    run_id, (uri,) = logged("model")
    first = register_candidate(client, GROUP, uri, run_id, TAGS)
    again = register_candidate(client, GROUP, uri, run_id, TAGS)
    assert first == again == "1"
    assert versions(client) == ["1"]
    stored = client.get_model_version(NAME, first)
    assert stored.source == uri and stored.run_id == run_id
    assert {k: stored.tags[k] for k in TAGS} == {
        "detector": "hbos",
        "validation_status": "pending",
        "metric.f1": "0.25",
    }


def test_a_retry_merges_its_tags_and_keeps_later_ones(client: MlflowClient) -> None:
    run_id, (uri,) = logged("model")
    version = register_candidate(client, GROUP, uri, run_id, TAGS)
    client.set_model_version_tag(NAME, version, "gate", "promoted: no current champion")
    again = register_candidate(client, GROUP, uri, run_id, {**TAGS, "metric.f1": 0.5, "new": 1})
    assert again == version
    tags = client.get_model_version(NAME, version).tags
    assert tags["metric.f1"] == "0.5" and tags["new"] == "1"
    assert tags["gate"] == "promoted: no current champion"


def test_another_run_gets_a_new_version(client: MlflowClient) -> None:
    first_run, (first_uri,) = logged("model")
    second_run, (second_uri,) = logged("model")
    assert register_candidate(client, GROUP, first_uri, first_run, TAGS) == "1"
    assert register_candidate(client, GROUP, second_uri, second_run, TAGS) == "2"
    assert register_candidate(client, GROUP, first_uri, first_run, TAGS) == "1"
    assert versions(client) == ["1", "2"]


def test_another_model_of_the_same_run_gets_a_new_version(client: MlflowClient) -> None:
    run_id, (one, two) = logged("one", "two")
    assert register_candidate(client, GROUP, one, run_id, TAGS) == "1"
    assert register_candidate(client, GROUP, two, run_id, TAGS) == "2"
    assert register_candidate(client, GROUP, two, run_id, TAGS) == "2"
    assert versions(client) == ["1", "2"]


def test_a_version_stored_under_the_model_location_is_found(client: MlflowClient) -> None:
    # Some registries (Databricks) store the logged model's artifact location as the source.
    run_id, (uri,) = logged("model")
    location = client.get_logged_model(uri.removeprefix("models:/")).artifact_location
    client.create_registered_model(NAME)
    client.create_model_version(NAME, source=location, run_id=run_id)
    assert register_candidate(client, GROUP, uri, run_id, TAGS) == "1"
    assert versions(client) == ["1"]
