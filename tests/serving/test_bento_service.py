"""The BentoML service (serving/service.py) through its ASGI app and as `bentoml serve`."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from serving_helpers import Served
from starlette.testclient import TestClient

from auth_support import assert_every_route_guarded
from sensorguard.serve_thread import free_port
from sensorguard.serving import process

ROOT = Path(__file__).resolve().parents[2]
SERVICE_FILE = ROOT / "serving" / "service.py"


def load_service_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sensorguard_bento_service", SERVICE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # BentoML looks the service's module up by name
    spec.loader.exec_module(module)
    return module


def payload(served: Served, n: int) -> dict[str, object]:
    live = served.live_readings(served.sim.sensors[1].sensor_id)[:n]
    return {"readings": [r.model_dump(mode="json", exclude_none=True) for r in live]}


@pytest.fixture(scope="module")
def client(
    served: Served, keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, ModuleType]]:
    """The service's ASGI app, built once per process (BentoML registers its metrics globally)."""
    from sensorguard.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        # `bentoml serve` sets this for its workers; BentoML's /metrics reads it.
        env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        env.setenv("SENSORGUARD_DATA_DIR", str(served.settings.data_dir))
        env.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(served.settings.model_specs_dir))
        env.setenv("SENSORGUARD_ENV", "test")
        get_settings.cache_clear()
        module = load_service_module()
        app = module.SensorGuard.to_asgi()
        with TestClient(app) as test_client:
            # The first request builds the authorizer: from these settings, not a test's.
            test_client.get("/livez", headers={"X-API-Key": keys["operator"]})
            get_settings.cache_clear()
            module.asgi_app = app
            yield test_client, module


def test_score_answers_each_reading_with_the_champion(
    client: tuple[TestClient, ModuleType], served_env: Served, keys: dict[str, str]
) -> None:
    from sensorguard.serving.service import ScoringService

    test_client, _ = client
    body = payload(served_env, 100)
    answer = test_client.post("/score", json=body, headers={"X-API-Key": keys["operator"]})
    assert answer.status_code == 200, answer.text
    scores = answer.json()["scores"]
    assert len(scores) == 100
    direct = ScoringService.from_settings(served_env.settings)
    direct.champions.refresh()
    from sensorguard.schemas import Reading

    expected = direct.score([Reading.model_validate(r) for r in body["readings"]]).scores  # type: ignore[attr-defined]
    assert [s["score"] for s in scores] == [v.score for v in expected]
    assert {s["model"] for s in scores} == {"sensorguard-climate"}
    models = test_client.get("/models", headers={"Authorization": f"Bearer {keys['operator']}"})
    assert models.status_code == 200 and models.json()[0]["group"] == "climate"


def test_every_route_refuses_anonymous_and_wrong_role_calls(
    client: tuple[TestClient, ModuleType], served_env: Served, keys: dict[str, str]
) -> None:
    from sensorguard.wiring import open_configured_metadata

    test_client, module = client
    routes = assert_every_route_guarded(
        test_client, module.asgi_app, keys, permission_for=module.permission_for
    )
    assert ("POST", "/score") in routes and ("GET", "/metrics") in routes
    metadata = open_configured_metadata(served_env.settings)
    refused = metadata.audit_log(limit=500, action="auth.refused")
    metadata.close()
    assert any(e.subject == "POST /score" and e.actor == "device" for e in refused)
    assert any(e.subject == "POST /score" and e.actor == "anonymous" for e in refused)


def test_bad_requests_get_a_clear_4xx(
    client: tuple[TestClient, ModuleType], served_env: Served, keys: dict[str, str]
) -> None:
    test_client, _ = client
    headers = {"X-API-Key": keys["operator"]}
    bad = {"readings": [{"sensor_id": "x", "ts": "yesterday", "channels": {"temperature": 1}}]}
    answer = test_client.post("/score", json=bad, headers=headers)
    assert answer.status_code == 400 and "ts" in answer.text, answer.text
    unknown = {
        "readings": [
            {"sensor_id": "nobody", "ts": "2026-03-01T00:00:00Z", "channels": {"temperature": 1.0}}
        ]
    }
    answer = test_client.post("/score", json=unknown, headers=headers)
    assert answer.status_code == 400 and "readings[0].sensor_id" in answer.text, answer.text
    huge = b'{"readings": [' + b" " * 2_000_000 + b"]}"
    answer = test_client.post(
        "/score", content=huge, headers={**headers, "content-type": "application/json"}
    )
    assert answer.status_code == 413, answer.text


def test_bentoml_serve_answers_real_http_and_swaps_champions_under_load(
    served_env: Served, keys: dict[str, str], tmp_path: Path
) -> None:
    from sensorguard.champion import champion_version, promote
    from sensorguard.training.tracking import mlflow_client

    port = free_port()
    env = {**os.environ, "SENSORGUARD_SERVE_PORT": str(port), "SENSORGUARD_CHAMPION_POLL_S": "1"}
    log_path = tmp_path / "bentoml.log"
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": keys["operator"]}
    client = mlflow_client(served_env.settings)
    champion = str(champion_version(client, "climate").version)  # type: ignore[union-attr]
    other = next(
        str(v.version)
        for v in client.search_model_versions("name='sensorguard-climate'")
        if str(v.version) != champion
    )
    proc = process.start_bentoml(env, "127.0.0.1", port, log_path)
    try:
        process.wait_ready(proc, base, headers, log_path)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 401
        answer = httpx.post(
            f"{base}/score", json=payload(served_env, 10), headers=headers, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["scores"]) == 10

        # A steady request load while the champion moves and moves back: no request fails,
        # and the answers switch versions without a restart.
        statuses: list[int] = []
        versions: list[str] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                while not stop.is_set():
                    got = http.post("/score", json=payload(served_env, 5))
                    statuses.append(got.status_code)
                    if got.status_code == 200:
                        versions.append(got.json()["scores"][0]["model_version"])

        worker = threading.Thread(target=load)
        worker.start()
        try:
            time.sleep(1)
            promote(client, "climate", other, reason="swap under load")
            _wait_for(lambda: bool(versions) and versions[-1] == other, 30)
            promote(client, "climate", champion, reason="swap under load, back")
            _wait_for(lambda: versions[-1] == champion, 30)
        finally:
            stop.set()
            worker.join()
            promote(client, "climate", champion, reason="test cleanup")
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        assert other in versions and versions[-1] == champion

        metrics = httpx.get(f"{base}/metrics", headers=headers, timeout=5).text
        assert "sensorguard_scores_total" in metrics
        assert "sensorguard_model_version" in metrics
    finally:
        process.stop(proc)


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(0.2)
