"""CORS on every guarded app: off by default, allowed origins only, preflights leak nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sensorguard.auth import Authorizer
from sensorguard.http_app import guarded_app, observe_only
from sensorguard.metadata import MetadataStore, open_metadata
from sensorguard.settings import Settings

ALLOWED = "https://ops.example"
OTHER = "https://evil.example"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    with open_metadata(f"sqlite:///{tmp_path / 'metadata.db'}", pepper="cors-pepper") as opened:
        opened.add_user("ops", "operator", actor="test")
        yield opened


@pytest.fixture
def key(store: MetadataStore) -> str:
    return store.create_api_key("ops", actor="test")[1]


def client(store: MetadataStore, tmp_path: Path, origins: list[str]) -> TestClient:
    settings = Settings(data_dir=tmp_path / "sg", require_api_key=True, cors_origins=origins)
    app = guarded_app("t", "t", settings, observe_only, Authorizer(store, settings))
    return TestClient(app)


def preflight(http: TestClient, origin: str, headers: str = "x-api-key") -> object:
    return http.options(
        "/metrics",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_an_allowed_origin_gets_the_headers_and_still_needs_a_key(
    store: MetadataStore, key: str, tmp_path: Path
) -> None:
    http = client(store, tmp_path, [ALLOWED])
    ok = http.get("/healthz", headers={"Origin": ALLOWED, "X-API-Key": key})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in ok.headers
    refused = http.get("/healthz", headers={"Origin": ALLOWED})
    assert refused.status_code == 401  # CORS is no way around the key
    assert refused.headers["access-control-allow-origin"] == ALLOWED  # the page may read why


def test_another_origin_gets_no_cors_headers(
    store: MetadataStore, key: str, tmp_path: Path
) -> None:
    http = client(store, tmp_path, [ALLOWED])
    answer = http.get("/healthz", headers={"Origin": OTHER, "X-API-Key": key})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    refused = preflight(http, OTHER)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in refused.headers  # type: ignore[attr-defined]


def test_a_preflight_is_answered_without_a_key_and_without_data(
    store: MetadataStore, tmp_path: Path
) -> None:
    http = client(store, tmp_path, [ALLOWED])
    answer = preflight(http, ALLOWED)
    assert answer.status_code == 200  # type: ignore[attr-defined]
    headers = answer.headers  # type: ignore[attr-defined]
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "x-api-key" in headers["access-control-allow-headers"].lower()
    body = answer.text  # type: ignore[attr-defined]
    assert body == "OK" and "python_info" not in body  # no metrics, no route ran
    assert store.audit_log(10, action="auth.refused") == []  # never reached the key check
    # The page header that lets a cookie-authenticated change through stays same-site only.
    assert preflight(http, ALLOWED, "x-requested-with").status_code == 400  # type: ignore[attr-defined]


def test_cors_is_off_by_default(store: MetadataStore, key: str, tmp_path: Path) -> None:
    http = client(store, tmp_path, [])
    answer = http.get("/healthz", headers={"Origin": ALLOWED, "X-API-Key": key})
    assert "access-control-allow-origin" not in answer.headers
    assert preflight(http, ALLOWED).status_code == 401  # type: ignore[attr-defined]
