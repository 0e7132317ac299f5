"""The route-table auth contract, for any Starlette/FastAPI app: no route answers without a key.

`assert_every_route_guarded` walks the app's routes (mounts included), so a route added later
is covered by the same test without anyone remembering to write one for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sensorguard.auth import ROLE_PERMISSIONS, WEBSOCKET, ApiKeyMiddleware, Permission
from sensorguard.metadata import MetadataStore
from sensorguard.metadata.roles import ROLES, Role

# Fits both {name} and {name:int} parameters, so a route's converter does not turn it into 404.
PATH_PARAM_VALUE = "1"
_PARAM = re.compile(r"\{[^}]*\}")
PermissionFor = Callable[[str, str], Permission]


def guarded_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the app's route table; websockets as method "WS"."""
    found: list[tuple[str, str]] = []
    _walk(app.routes, "", found)
    return sorted(set(found))


def _walk(routes: Iterable[BaseRoute], prefix: str, found: list[tuple[str, str]]) -> None:
    for route in routes:
        if isinstance(route, Mount):
            inner = route.routes
            if inner:
                _walk(inner, prefix + route.path, found)
            else:  # a mounted app without a route table (static files, a bare ASGI app)
                found.append(("GET", _concrete(prefix + route.path) + "/"))
        elif isinstance(route, WebSocketRoute):
            found.append((WEBSOCKET, _concrete(prefix + route.path)))
        elif isinstance(route, Route):
            found.extend((m, _concrete(prefix + route.path)) for m in route.methods or {"GET"})


def _concrete(path: str) -> str:
    return _PARAM.sub(PATH_PARAM_VALUE, path) or "/"


def _middleware_permissions(app: Any) -> PermissionFor:
    for middleware in getattr(app, "user_middleware", ()):
        if middleware.cls is ApiKeyMiddleware:
            permission_for: PermissionFor = middleware.kwargs["permission_for"]
            return permission_for
    raise AssertionError(f"{app!r} is not wrapped in ApiKeyMiddleware (or pass permission_for)")


def _status(client: TestClient, method: str, path: str, key: str | None) -> int:
    """The answer's status; for a websocket 401/403 from close codes 4401/4403, 101 if accepted."""
    headers = {"X-API-Key": key} if key is not None else {}
    # A route may sign a browser in (a session cookie): every probe starts without one.
    client.cookies.clear()
    if method != WEBSOCKET:
        return int(client.request(method, path, headers=headers).status_code)
    try:
        with client.websocket_connect(path, headers=headers):
            return 101
    except WebSocketDisconnect as closed:
        return closed.code - 4000 if closed.code in (4401, 4403) else closed.code


def assert_every_route_guarded(
    client: TestClient,
    app: Any,
    good_keys_by_role: Mapping[Role, str] | Mapping[str, str],
    *,
    permission_for: PermissionFor | None = None,
) -> list[tuple[str, str]]:
    """Call every route anonymously (401 expected), then with each role's key.

    A role lacking the route's permission must get 403; a role holding it must get past the
    guard (anything but 401/403). `permission_for` defaults to the one the app's
    ApiKeyMiddleware was given. Returns the routes checked.
    """
    if permission_for is None:
        permission_for = _middleware_permissions(app)
    routes = guarded_routes(app)
    assert routes, f"{app!r} has no routes to check"
    problems = []
    for method, path in routes:
        where = f"{method} {path}"
        anonymous = _status(client, method, path, None)
        if anonymous != 401:
            problems.append(f"{where} without a key answered {anonymous}, expected 401")
        needed = permission_for(method, path)
        for role, key in good_keys_by_role.items():
            assert role in ROLE_PERMISSIONS, f"{role!r} is not a role; roles: {', '.join(ROLES)}"
            status = _status(client, method, path, key)
            allowed = needed in ROLE_PERMISSIONS[cast(Role, role)]
            if not allowed and status != 403:
                problems.append(f"{where} as {role} (lacks {needed!r}) answered {status}, not 403")
            if allowed and status in (401, 403):
                problems.append(f"{where} as {role} (holds {needed!r}) was refused with {status}")
    assert not problems, "\n".join(problems)
    return routes


def issue_keys(
    store: MetadataStore,
    *,
    device_sensors: Sequence[str] = (),
    device_site: str | None = None,
    roles: Iterable[str] = ROLES,
) -> dict[Role, str]:
    """One user per role (named after it) and a key each; the device key bound as given."""
    keys: dict[Role, str] = {}
    for role in roles:
        store.add_user(role, role, actor="test")
        if role == "device":
            _, key = store.create_api_key(
                role, sensors=device_sensors, site=device_site, actor="test"
            )
        else:
            _, key = store.create_api_key(role, actor="test")
        keys[cast(Role, role)] = key
    return keys
