"""Every operation of every FastAPI app, fuzzed from its own OpenAPI schema by schemathesis.

Positive and negative data (schemathesis' default: both modes), every default check: no 5xx,
answers conform to the documented schema and status codes, invalid input gets a 4xx. The
apps run on embedded backends with a key that holds the routes' permissions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fuzz_support import Tally
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import SENSORS, Ingest, Platform

# Per operation and per phase (examples, coverage, fuzzing): the folder stays within minutes.
MAX_EXAMPLES = 60
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def load(app: object, key: str, tally: Tally, label: str) -> schemathesis.BaseSchema:
    """The app's schema (fetched with the key, as every route needs one), calls counted."""
    headers = {"X-API-Key": key}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    schema.config.update(headers=headers)
    schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")
    tally.count_schema(schema, label)
    return schema


@pytest.fixture(scope="module")
def ingest_schema(ingest: Ingest, tally: Tally) -> schemathesis.BaseSchema:
    # A data scientist may send readings of any sensor: the validator, not the key, judges them.
    return load(ingest.app, ingest.platform.keys["data_scientist"], tally, "ingest")


@pytest.fixture(scope="module")
def operators_schema(platform: Platform, tally: Tally) -> Iterator[schemathesis.BaseSchema]:
    from starlette.testclient import TestClient

    from sensorguard.alerting.api import create_alerts_app
    from sensorguard.alerting.delivery import LogDelivery
    from sensorguard.alerting.store import AlertStore

    store = AlertStore.from_settings(platform.settings)
    # A few alerts to find: ids 1..3 exist, so some fuzzed ids reach the lifecycle.
    for sensor in SENSORS[:3]:
        store.trigger("fuzz", sensor.sensor_id, site=sensor.site, summary="fuzzed")
    app = create_alerts_app(platform.settings, store, LogDelivery())
    with TestClient(app):  # runs the lifespan, so the app's stores are closed at the end
        yield load(app, platform.keys["operator"], tally, "operators")
    store.close()


@pytest.fixture(scope="module")
def scorer_schema(platform: Platform, tally: Tally) -> schemathesis.BaseSchema:
    from sensorguard.serving.stream import scorer_metrics_app

    return load(scorer_metrics_app(platform.settings), platform.keys["operator"], tally, "scorer")


ingest_api = schemathesis.pytest.from_fixture("ingest_schema")
operators_api = schemathesis.pytest.from_fixture("operators_schema")
scorer_api = schemathesis.pytest.from_fixture("scorer_schema")


@ingest_api.parametrize()
@FUZZ
def test_ingest_api(case: schemathesis.Case) -> None:
    case.call_and_validate()


# The rule body is documented as any JSON object (the rules YAML format, checked by
# sensorguard.alerting.rules), so a schema-valid body is mostly not a rule: its 422 is right,
# and test_findings.py checks that it names the field.
RULE_BODY = ("PUT", "/v1/rules/{name}")


@operators_api.parametrize()
@FUZZ
def test_operators_api(case: schemathesis.Case) -> None:
    if (case.operation.method.upper(), case.operation.path) == RULE_BODY:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
    else:
        case.call_and_validate()


@scorer_api.parametrize()
@FUZZ
def test_scorer_metrics_api(case: schemathesis.Case) -> None:
    case.call_and_validate()
