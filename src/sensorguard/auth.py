"""Who may call which HTTP route of any service: API keys, roles, permissions, audited refusals.

Every service (ingest, scoring, ...) wraps its whole ASGI app in `ApiKeyMiddleware` with a
`permission_for(method, path)` map, so no route, not even /metrics, /docs or a health probe,
is reachable without a key. The middleware asks an `Authorizer`, which verifies the key against
the metadata store, checks the role's permissions and writes every refusal to the audit log.

Verified keys are cached for `SENSORGUARD_API_KEY_CACHE_S` (30 s by default) so a busy endpoint
does not query SQLite per request; a revoked key therefore keeps working for up to that long.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol, get_args

from sensorguard.errors import BackendUnavailable, Forbidden, Unauthorized
from sensorguard.metadata.records import KeyRefusal, Principal
from sensorguard.metadata.roles import Role

if TYPE_CHECKING:
    from sensorguard.metadata.store import MetadataStore
    from sensorguard.settings import Settings

log = logging.getLogger(__name__)

Permission = Literal["ingest", "read", "alerts", "train", "admin", "observe"]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

# observe = metrics and health; read = scores and models; alerts = manage alert rules;
# train = train and promote models; admin = users and keys; ingest = send readings.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        "admin": frozenset(PERMISSIONS),
        "data_scientist": frozenset({"read", "alerts", "train", "ingest", "observe"}),
        "operator": frozenset({"read", "alerts", "observe"}),
        "device": frozenset({"ingest", "observe"}),
    }
)

ANONYMOUS = "anonymous"
# Who every caller is when keys are off (development only): an admin, so nothing is hidden.
DEV_PRINCIPAL = Principal(username="anonymous-dev", role="admin", key_id="")
REFUSED = "auth.refused"
# A websocket request has no HTTP method; permission_for sees this one instead.
WEBSOCKET = "WS"
# Far more keys than one service sees within a TTL; past it the least recently used are dropped,
# so a flood of distinct keys cannot grow memory.
_CACHE_SIZE = 4096
# RFC 6455 allows 123 bytes of reason in a close frame.
_CLOSE_REASON_BYTES = 123

_KEY_PROBLEMS: Mapping[KeyRefusal | Literal["missing"], str] = MappingProxyType(
    {
        "missing": "none was sent",
        "malformed": "the key sent is not of the form sg_<16 hex digits>_<secret>",
        # One message for both, so a caller cannot tell whether a key id exists.
        "unknown": "the key sent is not known (keys come from `sensorguard users key-create`)",
        "wrong_secret": "the key sent is not known (keys come from `sensorguard users key-create`)",
        "revoked": "the key sent has been revoked",
        # The audit log says which retired pepper version; the caller learns no more than for
        # an unknown key (they need a new key either way).
        "pepper_unknown": "the key sent is not known (keys come from `sensorguard users "
        "key-create`)",
    }
)


def roles_with(permission: Permission) -> list[Role]:
    """The roles holding a permission, in ROLE_PERMISSIONS order."""
    return [role for role, held in ROLE_PERMISSIONS.items() if permission in held]


class Authorizer:
    """Verifies API keys, checks role permissions and key bindings, audits every refusal.

    Thread-safe: FastAPI and BentoML call it from worker threads. With
    SENSORGUARD_REQUIRE_API_KEY=false (development only, Settings enforces that) every call is
    let through as DEV_PRINCIPAL.
    """

    def __init__(
        self,
        metadata: MetadataStore,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = _CACHE_SIZE,
    ) -> None:
        self._metadata = metadata
        self._enabled = settings.require_api_key
        self._ttl_s = settings.api_key_cache_s
        self._clock = clock
        self._cache_size = cache_size
        # Keyed by a digest of the key: a memory dump must not hand out working keys.
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        if not self._enabled:
            log.warning(
                "API keys are OFF (SENSORGUARD_REQUIRE_API_KEY=false): every HTTP caller acts "
                "as admin %r, unaudited; never do this outside development",
                DEV_PRINCIPAL.username,
            )

    @property
    def enabled(self) -> bool:
        return self._enabled

    def authorize(self, key: str | None, permission: Permission, *, where: str) -> Principal:
        """The principal behind `key` if its role holds `permission`.

        Raises Unauthorized for a missing, malformed, unknown or revoked key and Forbidden when
        the role lacks the permission; both are audited under `where` (e.g. "POST /v1/readings").
        """
        if not self._enabled:
            return DEV_PRINCIPAL
        principal = self._verify(key, where)
        if permission not in ROLE_PERMISSIONS[principal.role]:
            self._refuse(
                Forbidden(
                    where,
                    f"it needs the {permission!r} permission, which roles "
                    f"{', '.join(roles_with(permission))} hold; user {principal.username!r} has "
                    f"role {principal.role}",
                ),
                actor=principal.username,
                reason="role",
                permission=permission,
                role=principal.role,
                key_id=principal.key_id,
            )
        return principal

    def authorize_sensors(
        self, principal: Principal, sensors: Iterable[tuple[str, str | None]], *, where: str
    ) -> None:
        """Refuse (Forbidden, audited) unless the key may send readings of every sensor given.

        `sensors` are (sensor_id, site) pairs, site None for a sensor that is not registered.
        The first sensor the key's binding does not cover is named in the refusal.
        """
        for sensor_id, site in sensors:
            if principal.may_ingest(sensor_id, site):
                continue
            at = f" (site {site})" if site is not None else " (not a registered sensor)"
            if principal.bound:
                problem = (
                    f"user {principal.username!r} may not send readings of sensor "
                    f"{sensor_id!r}{at}: its key is bound to {principal.describe_binding()}"
                )
            else:
                problem = (
                    f"user {principal.username!r} may not send readings of sensor "
                    f"{sensor_id!r}: its device key is bound to no sensor or site, and a device "
                    f"key may ingest nothing until it is; create a bound one with `sensorguard "
                    f"users key-create {principal.username} --sensor ID` or `--site SITE`"
                )
            self._refuse(
                Forbidden(where, problem),
                actor=principal.username,
                reason="binding",
                sensor_id=sensor_id,
                site=site,
                key_id=principal.key_id,
            )

    def _verify(self, key: str | None, where: str) -> Principal:
        if key is None:
            self._refuse(
                Unauthorized(where, _KEY_PROBLEMS["missing"]), actor=ANONYMOUS, reason="missing"
            )
        digest = hashlib.sha256(key.strip().encode()).digest()
        cached = self._cached(digest)
        if cached is not None:
            return cached
        check = self._metadata.check_api_key(key)
        if check.principal is None:
            refusal = check.refusal or "unknown"
            extra: dict[str, object] = {}
            if check.pepper_version is not None:
                extra["pepper_version"] = check.pepper_version
                extra["why"] = (
                    f"the key was hashed with API-key pepper version {check.pepper_version}, "
                    "which this server does not hold (neither SENSORGUARD_API_KEY_PEPPER_VERSION "
                    "nor SENSORGUARD_API_KEY_PREVIOUS_PEPPERS); issue the user a new key"
                )
            self._refuse(
                Unauthorized(where, _KEY_PROBLEMS[refusal]),
                actor=check.owner or ANONYMOUS,
                reason=refusal,
                key_id=check.key_id,
                **extra,
            )
        self._remember(digest, check.principal)
        return check.principal

    def _cached(self, digest: bytes) -> Principal | None:
        with self._lock:
            hit = self._cache.get(digest)
            if hit is None:
                return None
            if hit[0] <= self._clock():
                del self._cache[digest]
                return None
            self._cache.move_to_end(digest)
            return hit[1]

    def _remember(self, digest: bytes, principal: Principal) -> None:
        if self._ttl_s <= 0:
            return
        with self._lock:
            self._cache[digest] = (self._clock() + self._ttl_s, principal)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _refuse(self, error: Unauthorized | Forbidden, *, actor: str, **detail: object) -> NoReturn:
        # The refusal stands even if it cannot be recorded: an unreachable audit log must not
        # turn a 401 into a 500, nor into a way in.
        try:
            self._metadata.audit(
                actor,
                REFUSED,
                error.where,
                {"status": error.status_code, "outcome": type(error).__name__.lower(), **detail},
            )
        except BackendUnavailable as err:
            log.error("could not audit a refusal of %s by %s: %s", error.where, actor, err)
        raise error


# -- ASGI -------------------------------------------------------------------------------------

# The ASGI shapes, spelled as Starlette spells them, so Starlette, FastAPI and BentoML accept
# the middleware without this module importing any of them.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyAuthorizer:
    """Builds an Authorizer on first use, once even under concurrent first requests.

    So importing a service file or building its app opens no database.
    """

    def __init__(self, factory: Callable[[], Authorizer]) -> None:
        self._factory = factory
        self._built: Authorizer | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Authorizer:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._factory()
        return self._built


def api_key_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of an `X-API-Key` header or else of `Authorization: Bearer <key>`.

    Bearer is what Prometheus sends (its scrape `authorization` setting); anything else in
    Authorization counts as no key.
    """
    bearer = None
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if name == b"x-api-key":
            return raw_value.decode("latin-1")
        if name == b"authorization":
            scheme, _, credentials = raw_value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                bearer = credentials.strip()
    return bearer


SESSION_COOKIE = "sensorguard_key"
"""The cookie a browser page keeps its key in (set by an app's `POST /v1/session`): HttpOnly,
so the page's scripts cannot read it, and SameSite=Strict, so other sites cannot send it."""
PAGE_HEADER = (b"x-requested-with", b"sensorguard")
"""What a page's own scripts add to a cookie-authenticated change: a header another site's form
cannot send and its scripts cannot send without a CORS preflight we never answer."""
_SAFE_METHODS = ("GET", "HEAD")


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None


def session_key(scope: Scope) -> str | None:
    """The key of the session cookie, where a cookie may authenticate the request.

    A browser sends cookies by itself, so a cookie alone is not a caller's intent: it counts
    for reads (GET, HEAD), for a websocket only from this app's own origin (no cross-site
    websocket hijacking), and for changes only with `PAGE_HEADER`.
    """
    headers = scope.get("headers", ())
    cookie = _header(headers, b"cookie")
    if not cookie:
        return None
    from http.cookies import CookieError, SimpleCookie

    try:
        jar = SimpleCookie(cookie)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    if morsel is None:
        return None
    if scope["type"] == "websocket":
        origin, host = _header(headers, b"origin"), _header(headers, b"host")
        if origin is not None and origin.partition("://")[2] != host:
            return None
    elif scope["method"] not in _SAFE_METHODS and _header(headers, PAGE_HEADER[0]) != (
        PAGE_HEADER[1].decode()
    ):
        return None
    return morsel.value


def wants_html(scope: Scope) -> bool:
    """A browser navigating (GET with text/html acceptable), not a script or a client."""
    accept = _header(scope.get("headers", ()), b"accept") or ""
    return scope["type"] == "http" and scope["method"] == "GET" and "text/html" in accept


class ApiKeyMiddleware:
    """Pure ASGI middleware: every http and websocket request needs a key with a permission.

    `permission_for(method, path)` names the permission a request needs (websockets come as
    method "WS"); there is deliberately no allowlist. Refusals are answered as JSON
    `{"detail": ...}` (401 with `WWW-Authenticate: ApiKey`, or 403); a websocket is closed
    before accept with code 4401 or 4403. The principal is left in scope["state"]["principal"]
    (see `principal_of`). `authorizer` may be a factory, called on the first request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authorizer: Authorizer | Callable[[], Authorizer],
        permission_for: Callable[[str, str], Permission],
        login_page: bytes | None = None,
    ) -> None:
        self.app = app
        self.permission_for = permission_for
        # Apps with a browser page answer a browser's 401 with this form (still a 401: it
        # shows nothing but where to enter a key); every other caller gets the JSON detail.
        self.login_page = login_page
        if isinstance(authorizer, Authorizer):
            self._authorizer: Callable[[], Authorizer] = lambda: authorizer
        elif isinstance(authorizer, LazyAuthorizer):
            self._authorizer = authorizer
        else:
            self._authorizer = LazyAuthorizer(authorizer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):  # lifespan: startup and shutdown carry no caller
            await self.app(scope, receive, send)
            return
        from anyio.to_thread import run_sync

        method = scope["method"] if kind == "http" else WEBSOCKET
        path = scope["path"]
        key = api_key_from_headers(scope.get("headers", ())) or session_key(scope)
        try:
            # A cache miss reads (and may write) SQLite: keep it off the event loop.
            principal = await run_sync(partial(self._authorize, key, method, path))
        except (Unauthorized, Forbidden) as refusal:
            if kind == "http" and self.login_page is not None and wants_html(scope):
                await _answer_html(send, refusal.status_code, self.login_page)
            elif kind == "http":
                await _answer(send, refusal.status_code, str(refusal))
            else:
                reason = str(refusal).encode()[:_CLOSE_REASON_BYTES].decode(errors="ignore")
                await send(
                    {
                        "type": "websocket.close",
                        "code": 4000 + refusal.status_code,
                        "reason": reason,
                    }
                )
            return
        except BackendUnavailable as err:
            log.warning("cannot check API keys: %s", err)
            if kind == "http":
                await _answer(send, 503, "cannot check API keys right now; retry later")
            else:
                await send({"type": "websocket.close", "code": 1013})
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _authorize(self, key: str | None, method: str, path: str) -> Principal:
        permission = self.permission_for(method, path)
        return self._authorizer().authorize(key, permission, where=f"{method} {path}")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b"ApiKey"))
    elif status == 503:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_html(send: Send, status: int, page: bytes) -> None:
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"%d" % len(page)),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"ApiKey"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": page})


class _HasScope(Protocol):
    @property
    def scope(self) -> Mapping[str, Any]: ...


def principal_of(request: _HasScope) -> Principal:
    """Who made this request (a Starlette/FastAPI Request or WebSocket, or BentoML's request)."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        # A wiring bug, not a caller's fault: the route is not behind ApiKeyMiddleware.
        raise RuntimeError(
            f"no principal on the request to {request.scope.get('path')!r}; "
            "the app must be wrapped in sensorguard.auth.ApiKeyMiddleware"
        )
    return principal
