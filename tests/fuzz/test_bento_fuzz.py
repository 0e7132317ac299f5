"""The BentoML scoring service as `bentoml serve` runs it, fuzzed from its own OpenAPI schema.

A real server process (BentoML's own OpenAPI at /docs.json, its request parsing, its errors)
on a trained embedded platform, as tests/serving does it; fewer examples per operation than the
in-process apps, as every case is a real HTTP round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fuzz_support import Tally
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from auth_support import issue_keys
from model.model_helpers import trained_climate
from sensorguard.serve_thread import free_port
from sensorguard.serving import process

MAX_EXAMPLES = 25
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def bento_schema(
    tmp_path_factory: pytest.TempPathFactory, tally: Tally
) -> Iterator[schemathesis.BaseSchema]:
    """A climate fleet with a champion (as tests/serving's `served`), served by `bentoml serve`."""
    from sensorguard.wiring import open_configured_metadata

    root = tmp_path_factory.mktemp("bento")
    platform, _, _ = trained_climate(root / "sg", sensors=2)
    metadata = open_configured_metadata(platform)
    try:
        key = issue_keys(metadata, roles=["operator"])["operator"]
    finally:
        metadata.close()
    port = free_port()
    log_path: Path = root / "bentoml.log"
    env = process.settings_env(platform, serve_port=str(port))
    proc = process.start_bentoml(env, "127.0.0.1", port, log_path)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": key}
    try:
        process.wait_ready(proc, base, headers, log_path)
        schema = schemathesis.openapi.from_url(f"{base}/docs.json", headers=headers)
        schema.config.update(headers=headers, base_url=base)
        schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")
        tally.count_schema(schema, "bentoml")
        yield schema
    finally:
        process.stop(proc)


bento_api = schemathesis.pytest.from_fixture("bento_schema")


# A reading the schema allows is scored only if its sensor is registered, which no schema can
# say: /score's 400 for a schema-valid reading of an unknown sensor is right (and names it).
SCORE = ("POST", "/score")


@bento_api.parametrize()
@FUZZ
def test_bentoml_service_api(case: schemathesis.Case) -> None:
    if (case.operation.method.upper(), case.operation.path) == SCORE:
        response = case.call_and_validate(timeout=30, excluded_checks=[positive_data_acceptance])
        if response.status_code == 400:
            assert response.json()["error"], response.text
    else:
        case.call_and_validate(timeout=30)
