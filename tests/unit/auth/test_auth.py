"""API keys, roles and permissions: who gets in, who is refused, and that every refusal is audited."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from auth_support import assert_every_route_guarded, guarded_routes, issue_keys
from sensorguard.auth import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ApiKeyMiddleware,
    Authorizer,
    Permission,
    principal_of,
)
from sensorguard.errors import ConfigError, Forbidden, NotFound, Unauthorized
from sensorguard.metadata import (
    MIGRATIONS,
    KeyCheck,
    MetadataStore,
    Principal,
    migrate,
    open_metadata,
)
from sensorguard.metadata.apikeys import hash_secret, new_key
from sensorguard.metadata.roles import ROLES, Role
from sensorguard.schemas import Sensor
from sensorguard.settings import Settings, get_settings

PEPPER = "test-pepper"
WHERE = "GET /v1/scores"
# Written out, not derived from ROLE_PERMISSIONS: a change to the roles must change this test.
EXPECTED: dict[str, set[str]] = {
    "device": {"ingest", "observe"},
    "operator": {"read", "alerts", "observe"},
    "data_scientist": {"read", "alerts", "train", "ingest", "observe"},
    "admin": {"ingest", "read", "alerts", "train", "admin", "observe"},
}
SENSORS = [
    Sensor(sensor_id="th-1", sensor_type="climate", site="a"),
    Sensor(sensor_id="th-2", sensor_type="climate", site="a"),
    Sensor(sensor_id="th-3", sensor_type="climate", site="b"),
]


class Clock:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    with open_metadata(f"sqlite:///{tmp_path / 'meta' / 'metadata.db'}", pepper=PEPPER) as opened:
        opened.seed_builtin_types()
        opened.add_sensors(SENSORS)
        yield opened


@pytest.fixture
def keys(store: MetadataStore) -> dict[Role, str]:
    return issue_keys(store, device_sensors=["th-1"])


@pytest.fixture
def on_settings(tmp_path: Path) -> Settings:
    # Explicit, so a developer's SENSORGUARD_REQUIRE_API_KEY cannot switch the checks off.
    return Settings(data_dir=tmp_path / "sg", require_api_key=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authorizer(store: MetadataStore, on_settings: Settings, clock: Clock) -> Authorizer:
    return Authorizer(store, on_settings, clock=clock)


def last_refusal(store: MetadataStore) -> tuple[str, str, dict[str, object]]:
    (entry,) = store.audit_log(1, action="auth.refused")
    return entry.actor, entry.subject, entry.detail


# -- roles x permissions -----------------------------------------------------------------------


def test_the_role_table_is_exactly_the_documented_one() -> None:
    assert {role: set(held) for role, held in ROLE_PERMISSIONS.items()} == EXPECTED
    assert set(ROLE_PERMISSIONS) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_role_permission_matrix(
    authorizer: Authorizer,
    keys: dict[Role, str],
    store: MetadataStore,
    role: Role,
    permission: Permission,
) -> None:
    if permission in EXPECTED[role]:
        principal = authorizer.authorize(keys[role], permission, where=WHERE)
        assert (principal.username, principal.role) == (role, role)
        assert store.audit_log(action="auth.refused") == []
        return
    with pytest.raises(Forbidden) as caught:
        authorizer.authorize(keys[role], permission, where=WHERE)
    message = str(caught.value)
    holders = [r for r in ROLES if permission in EXPECTED[r]]
    assert message.startswith(f"{WHERE} is not allowed: it needs the {permission!r} permission")
    assert f"which roles {', '.join(holders)} hold" in message
    assert f"user {role!r} has role {role}" in message
    actor, subject, detail = last_refusal(store)
    assert (actor, subject) == (role, WHERE)
    assert detail["status"] == 403 and detail["outcome"] == "forbidden"
    assert (detail["reason"], detail["permission"], detail["role"]) == ("role", permission, role)


# -- 401: no usable key ------------------------------------------------------------------------


def _wrong_secret(key: str) -> str:
    return key[:-1] + ("B" if key.endswith("A") else "A")


KEY_CASES: list[tuple[str, Callable[[dict[Role, str], str], str | None], str, str]] = [
    ("missing", lambda keys, revoked: None, "anonymous", "none was sent"),
    ("malformed", lambda keys, revoked: "Bearer-ish nonsense", "anonymous", "not of the form"),
    ("unknown", lambda keys, revoked: f"sg_{'0' * 16}_{'x' * 43}", "anonymous", "is not known"),
    (
        "wrong_secret",
        lambda keys, revoked: _wrong_secret(keys["operator"]),
        "anonymous",
        "is not known",
    ),
    ("revoked", lambda keys, revoked: revoked, "operator", "has been revoked"),
]


@pytest.mark.parametrize(
    ("reason", "make_key", "actor", "words"), KEY_CASES, ids=[c[0] for c in KEY_CASES]
)
def test_requests_without_a_usable_key_are_401_and_audited(
    authorizer: Authorizer,
    keys: dict[Role, str],
    store: MetadataStore,
    reason: str,
    make_key: Callable[[dict[Role, str], str], str | None],
    actor: str,
    words: str,
) -> None:
    old_id, revoked = store.create_api_key("operator", "old")
    store.revoke_api_key(old_id)
    key = make_key(keys, revoked)
    with pytest.raises(Unauthorized) as caught:
        authorizer.authorize(key, "read", where=WHERE)
    message = str(caught.value)
    assert message.startswith(f"{WHERE} requires an API key in the X-API-Key header or as ")
    assert words in message
    refused_actor, subject, detail = last_refusal(store)
    assert (refused_actor, subject) == (actor, WHERE)
    assert (detail["status"], detail["outcome"], detail["reason"]) == (401, "unauthorized", reason)
    if key is not None:
        secret = key.split("_", 2)[-1]
        assert secret not in message
        assert secret not in json.dumps(detail)


def test_a_known_key_id_with_a_wrong_secret_blames_no_one(
    authorizer: Authorizer, keys: dict[Role, str], store: MetadataStore
) -> None:
    real = authorizer.authorize(keys["admin"], "admin", where=WHERE)
    with pytest.raises(Unauthorized):
        authorizer.authorize(_wrong_secret(keys["admin"]), "admin", where=WHERE)
    actor, _, detail = last_refusal(store)
    assert actor == "anonymous"
    assert detail["key_id"] == real.key_id  # for whoever investigates: someone is guessing


# -- the cache ---------------------------------------------------------------------------------


def count_checks(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every key the store is asked to check (each one a SQLite read)."""
    checks: list[str] = []
    real_check = store.check_api_key

    def check(plaintext: str) -> KeyCheck:
        checks.append(plaintext)
        return real_check(plaintext)

    monkeypatch.setattr(store, "check_api_key", check)
    return checks


def test_verified_keys_are_cached_so_revocation_lands_within_the_ttl(
    authorizer: Authorizer,
    keys: dict[Role, str],
    store: MetadataStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = count_checks(store, monkeypatch)
    key = keys["operator"]
    first = authorizer.authorize(key, "read", where=WHERE)
    for _ in range(20):
        assert authorizer.authorize(key, "observe", where=WHERE) == first
    assert len(checks) == 1, "a cached key must not be looked up again"
    assert key not in repr(vars(authorizer)), "the cache must not hold the key itself"

    store.revoke_api_key(first.key_id)
    clock.now += 29.0
    assert authorizer.authorize(key, "read", where=WHERE) == first  # within the 30 s TTL
    clock.now += 2.0
    with pytest.raises(Unauthorized, match="revoked"):
        authorizer.authorize(key, "read", where=WHERE)


def test_the_cache_is_bounded(
    store: MetadataStore,
    keys: dict[Role, str],
    on_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authorizer = Authorizer(store, on_settings, cache_size=2)
    checks = count_checks(store, monkeypatch)
    for role in ("admin", "operator", "data_scientist", "admin"):
        authorizer.authorize(keys[role], "observe", where=WHERE)
    assert len(checks) == 4  # admin was evicted by the third key and looked up again


def test_a_zero_ttl_checks_every_call(store: MetadataStore, keys: dict[Role, str]) -> None:
    settings = Settings(require_api_key=True, api_key_cache_s=0)
    authorizer = Authorizer(store, settings)
    principal = authorizer.authorize(keys["operator"], "read", where=WHERE)
    store.revoke_api_key(principal.key_id)
    with pytest.raises(Unauthorized):
        authorizer.authorize(keys["operator"], "read", where=WHERE)


# -- device keys bound to sensors or a site ----------------------------------------------------


def test_may_ingest_by_binding() -> None:
    by_sensor = Principal(username="gw", role="device", key_id="k", sensors=("th-1",))
    by_site = Principal(username="gw", role="device", key_id="k", site="a")
    unbound_device = Principal(username="gw", role="device", key_id="k")
    person = Principal(username="ds", role="data_scientist", key_id="k")
    bound_person = Principal(username="ds", role="data_scientist", key_id="k", site="b")
    cases = [
        (by_sensor, "th-1", "a", True),
        (by_sensor, "th-2", "a", False),
        (by_site, "th-2", "a", True),
        (by_site, "th-3", "b", False),
        (by_site, "ghost", None, False),
        (unbound_device, "th-1", "a", False),
        (person, "th-3", "b", True),
        (person, "ghost", None, True),
        (bound_person, "th-1", "a", False),
    ]
    for principal, sensor_id, site, expected in cases:
        assert principal.may_ingest(sensor_id, site) is expected, (principal, sensor_id)


def test_a_key_bound_to_sensors_may_ingest_only_those(
    authorizer: Authorizer, keys: dict[Role, str], store: MetadataStore
) -> None:
    device = authorizer.authorize(keys["device"], "ingest", where="POST /v1/readings")
    assert device.sensors == ("th-1",)
    authorizer.authorize_sensors(device, [("th-1", "a")], where="POST /v1/readings")
    with pytest.raises(Forbidden) as caught:
        authorizer.authorize_sensors(
            device, [("th-1", "a"), ("th-2", "a"), ("th-3", "b")], where="POST /v1/readings"
        )
    assert str(caught.value) == (
        "POST /v1/readings is not allowed: user 'device' may not send readings of sensor 'th-2' "
        "(site a): its key is bound to sensor th-1"
    )
    actor, subject, detail = last_refusal(store)
    assert (actor, subject) == ("device", "POST /v1/readings")
    assert (detail["status"], detail["reason"], detail["sensor_id"]) == (403, "binding", "th-2")


def test_a_key_bound_to_a_site_may_ingest_its_sensors_only(
    store: MetadataStore, authorizer: Authorizer
) -> None:
    store.add_user("gw-a", "device")
    _, key = store.create_api_key("gw-a", site="a")
    device = authorizer.authorize(key, "ingest", where="POST /v1/readings")
    authorizer.authorize_sensors(device, [("th-1", "a"), ("th-2", "a")], where="POST /v1/readings")
    with pytest.raises(Forbidden, match=r"sensor 'th-3' \(site b\): its key is bound to site a"):
        authorizer.authorize_sensors(device, [("th-3", "b")], where="POST /v1/readings")
    with pytest.raises(Forbidden, match=r"'ghost' \(not a registered sensor\)"):
        authorizer.authorize_sensors(device, [("ghost", None)], where="POST /v1/readings")


def test_an_unbound_device_key_may_ingest_nothing_and_says_so(
    store: MetadataStore, authorizer: Authorizer
) -> None:
    store.add_user("gw-x", "device")
    _, key = store.create_api_key("gw-x")
    device = authorizer.authorize(key, "ingest", where="POST /v1/readings")
    with pytest.raises(Forbidden) as caught:
        authorizer.authorize_sensors(device, [("th-1", "a")], where="POST /v1/readings")
    message = str(caught.value)
    assert "bound to no sensor or site" in message
    assert "a device key may ingest nothing" in message
    assert "sensorguard users key-create gw-x --sensor ID" in message


def test_bindings_must_name_registered_sensors_and_sites(store: MetadataStore) -> None:
    store.add_user("gw", "device")
    with pytest.raises(NotFound, match="API key binding: no sensor named 'th-9'"):
        store.create_api_key("gw", sensors=["th-1", "th-9"])
    with pytest.raises(NotFound, match="API key binding: no site named 'z'; known: a, b"):
        store.create_api_key("gw", site="z")
    key_id, _ = store.create_api_key("gw", "hall", sensors=["th-2", "th-1", "th-1"], site="b")
    (info,) = store.list_api_keys("gw")
    assert (info.key_id, info.sensors, info.site) == (key_id, ("th-1", "th-2"), "b")
    assert info.describe_binding() == "sensors th-1, th-2 and site b"
    created = store.audit_log(1, action="api_key.create")[0]
    assert created.detail == {
        "key_id": key_id,
        "name": "hall",
        "sensors": ["th-1", "th-2"],
        "site": "b",
    }


def test_keys_of_a_database_before_bindings_stay_valid_and_unbound(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    key_id, secret, plaintext = new_key()
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, MIGRATIONS[:3])  # the schema before keys could be bound
    conn.execute("INSERT INTO users VALUES ('gw', 'device', '2025-01-01T00:00:00.000+00:00')")
    conn.execute(
        "INSERT INTO api_keys (key_id, username, name, secret_hash, created_at) "
        "VALUES (?, 'gw', 'old', ?, '2025-01-01T00:00:00.000+00:00')",
        (key_id, hash_secret(PEPPER, secret)),
    )
    conn.close()
    with MetadataStore(path, pepper=PEPPER) as store:
        principal = store.verify_api_key(plaintext)
        (info,) = store.list_api_keys()
    assert principal is not None and principal.username == "gw"
    assert (principal.sensors, principal.site, info.sensors, info.site) == ((), None, (), None)
    assert not principal.may_ingest("th-1", "a")  # an old device key must be bound first


# -- keys off: development only ----------------------------------------------------------------


@pytest.mark.parametrize("env", ["test", "production"])
def test_keys_can_be_turned_off_only_in_development(env: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(env=env, require_api_key=False, api_key_pepper=SecretStr("a-real-secret"))
    message = str(caught.value)
    assert "SENSORGUARD_REQUIRE_API_KEY=false" in message
    assert f"only with SENSORGUARD_ENV=development, got SENSORGUARD_ENV={env}" in message


def test_the_environment_variables_are_checked_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENSORGUARD_REQUIRE_API_KEY", "false")
    monkeypatch.setenv("SENSORGUARD_ENV", "production")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER", "a-real-secret")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="SENSORGUARD_REQUIRE_API_KEY"):
        get_settings()
    monkeypatch.setenv("SENSORGUARD_ENV", "development")
    get_settings.cache_clear()
    assert get_settings().require_api_key is False


def test_keys_are_required_by_default() -> None:
    assert Settings().require_api_key is True


def test_keys_off_warns_loudly_once_and_lets_everyone_in_as_a_dev_admin(
    store: MetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sensorguard.auth"):
        authorizer = Authorizer(store, Settings(require_api_key=False))
        for _ in range(3):
            principal = authorizer.authorize(None, "admin", where=WHERE)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "API keys are OFF" in warnings[0]
    assert "never do this outside development" in warnings[0]
    assert not authorizer.enabled
    assert (principal.username, principal.role) == ("anonymous-dev", "admin")
    assert store.audit_log(action="auth.refused") == []


# -- the ASGI middleware -----------------------------------------------------------------------


def _permission(method: str, path: str) -> Permission:
    return "ingest" if path.startswith("/v1/feed") else "read"


def guarded_app(authorizer: Authorizer | Callable[[], Authorizer]) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        principal = principal_of(request)
        return JSONResponse({"username": principal.username, "role": principal.role})

    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"username": principal_of(websocket).username})
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/v1/whoami", whoami),
            Route("/metrics", whoami),
            Route("/v1/items/{item_id:int}", whoami, methods=["GET", "DELETE"]),
            WebSocketRoute("/v1/feed", feed),
            Mount("/admin", routes=[Route("/users/{name}", whoami)]),
        ]
    )
    app.add_middleware(ApiKeyMiddleware, authorizer=authorizer, permission_for=_permission)
    return app


def test_x_api_key_and_bearer_are_both_accepted(
    authorizer: Authorizer, keys: dict[Role, str]
) -> None:
    client = TestClient(guarded_app(authorizer))
    key = keys["operator"]
    for headers in (
        {"X-API-Key": key},
        {"Authorization": f"Bearer {key}"},
        {"Authorization": f"bearer  {key} "},
    ):
        answer = client.get("/v1/whoami", headers=headers)
        assert answer.status_code == 200, (headers, answer.text)
        assert answer.json() == {"username": "operator", "role": "operator"}


def test_refusals_are_json_with_the_right_status_and_header(
    authorizer: Authorizer, keys: dict[Role, str], store: MetadataStore
) -> None:
    client = TestClient(guarded_app(authorizer))
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "ApiKey"
    assert "GET /metrics requires an API key" in anonymous.json()["detail"]
    basic = client.get("/metrics", headers={"Authorization": f"Basic {keys['admin']}"})
    assert basic.status_code == 401  # only Bearer carries a key
    wrong_role = client.get("/v1/whoami", headers={"X-API-Key": keys["device"]})
    assert wrong_role.status_code == 403
    assert "WWW-Authenticate" not in wrong_role.headers
    assert "needs the 'read' permission" in wrong_role.json()["detail"]
    assert keys["device"] not in wrong_role.text
    assert [e.subject for e in store.audit_log(action="auth.refused")] == [
        "GET /v1/whoami",
        "GET /metrics",
        "GET /metrics",
    ]


def test_websockets_are_refused_before_accept(
    authorizer: Authorizer, keys: dict[Role, str], store: MetadataStore
) -> None:
    client = TestClient(guarded_app(authorizer))
    with pytest.raises(WebSocketDisconnect) as anonymous, client.websocket_connect("/v1/feed"):
        pass
    assert anonymous.value.code == 4401
    operator = {"X-API-Key": keys["operator"]}
    with (
        pytest.raises(WebSocketDisconnect) as wrong_role,
        client.websocket_connect("/v1/feed", headers=operator),
    ):
        pass
    assert wrong_role.value.code == 4403
    assert "needs the 'ingest' permission" in wrong_role.value.reason
    with client.websocket_connect("/v1/feed", headers={"X-API-Key": keys["device"]}) as ws:
        assert ws.receive_json() == {"username": "device"}
    assert [e.subject for e in store.audit_log(action="auth.refused")] == ["WS /v1/feed"] * 2


def test_a_factory_is_called_on_the_first_request_not_before(
    authorizer: Authorizer, keys: dict[Role, str]
) -> None:
    calls: list[int] = []

    def factory() -> Authorizer:
        calls.append(1)
        return authorizer

    app = guarded_app(factory)
    with TestClient(app) as client:  # runs the lifespan: startup needs no key and no database
        assert calls == []
        for _ in range(3):
            assert client.get("/v1/whoami", headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert calls == [1]


def test_principal_of_a_request_outside_the_middleware_is_a_wiring_error() -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"username": principal_of(request).username})

    client = TestClient(Starlette(routes=[Route("/x", whoami)]))
    with pytest.raises(RuntimeError, match="ApiKeyMiddleware"):
        client.get("/x")


# -- the route-table contract itself -----------------------------------------------------------


def test_guarded_routes_walks_mounts_and_fills_path_parameters(authorizer: Authorizer) -> None:
    assert guarded_routes(guarded_app(authorizer)) == [
        ("DELETE", "/v1/items/1"),
        ("GET", "/admin/users/1"),
        ("GET", "/metrics"),
        ("GET", "/v1/items/1"),
        ("GET", "/v1/whoami"),
        ("HEAD", "/admin/users/1"),
        ("HEAD", "/metrics"),
        ("HEAD", "/v1/items/1"),
        ("HEAD", "/v1/whoami"),
        ("WS", "/v1/feed"),
    ]


def test_every_route_of_a_guarded_app_passes_the_contract(
    authorizer: Authorizer, keys: dict[Role, str]
) -> None:
    app = guarded_app(authorizer)
    checked = assert_every_route_guarded(TestClient(app), app, keys)
    assert len(checked) == 10


def test_the_contract_catches_a_route_left_outside_the_middleware(
    authorizer: Authorizer, keys: dict[Role, str]
) -> None:
    app = FastAPI()

    @app.get("/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"status": "anyone may read this"}

    app.mount("/guarded", guarded_app(authorizer))
    with pytest.raises(AssertionError, match="not wrapped in ApiKeyMiddleware"):
        assert_every_route_guarded(TestClient(app), app, keys)
    with pytest.raises(AssertionError) as caught:
        assert_every_route_guarded(TestClient(app), app, keys, permission_for=_permission)
    problems = str(caught.value)
    assert "GET /v1/forgotten without a key answered 200, expected 401" in problems
    assert "/guarded/v1/whoami" not in problems
