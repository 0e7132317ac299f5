"""The base of every SensorGuard HTTP app: API keys on every route, a liveness probe, metrics.

Ingest and the stream scorer's metrics endpoint start from :func:`guarded_app`, so each gets
the same authentication, the same `/healthz` and the same Prometheus `/metrics` (the
BentoML service has BentoML's own probes and metrics behind the same middleware).

CORS (SENSORGUARD_CORS_ORIGINS, off by default) wraps the key check from outside: a browser's
preflight (OPTIONS with Origin and Access-Control-Request-Method) carries no key by design, so
it is answered by the CORS layer alone, with headers and no data, and never reaches a route.
Every other request, cross-origin or not, still needs its key; its answer (a 401 too) carries
the CORS headers for an allowed origin, so the page's script can read why it was refused.
Credentials (cookies) are not allowed cross-origin: keys travel in X-API-Key or Authorization,
and the session cookie of an app's own page stays same-site.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures at runtime.

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match, Route

from sensorguard.auth import ApiKeyMiddleware, Authorizer, LazyAuthorizer, Permission
from sensorguard.settings import Settings

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore


# What a cross-origin script may send. Not X-Requested-With: that header is what lets a
# cookie-authenticated change through (sensorguard.auth.PAGE_HEADER), and it must stay
# impossible to send from another origin.
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("X-API-Key", "Authorization", "Content-Type")


def guarded_app(
    title: str,
    summary: str,
    settings: Settings,
    permission_for: Callable[[str, str], Permission],
    authorizer: Authorizer | None = None,
    *,
    login_page: bytes | None = None,
) -> FastAPI:
    """A FastAPI app whose every route needs a key; with `/healthz` and `/metrics` (observe).

    Without `authorizer`, one is built from `settings` on the first request, on a metadata
    store of its own that the app closes at shutdown. Whatever else the app opens for its
    lifetime goes on `app.state.closers`, closed at shutdown too. `login_page` is what a
    browser is shown instead of a refusal's JSON (apps with a page).
    """
    opened: list[MetadataStore] = []
    closers: list[Callable[[], None]] = []

    def build_authorizer() -> Authorizer:
        from sensorguard.wiring import open_configured_metadata

        opened.append(open_configured_metadata(settings))
        return Authorizer(opened[0], settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for close in reversed(closers):
            close()
        for store in opened:
            store.close()

    get_authorizer: Callable[[], Authorizer] = (
        LazyAuthorizer(build_authorizer) if authorizer is None else lambda: authorizer
    )
    app = FastAPI(title=title, summary=summary, version="1", lifespan=lifespan)
    # Routes that authorize more than the permission (ingest's sensor bindings) use it too.
    app.state.get_authorizer = get_authorizer
    app.state.closers = closers
    app.add_middleware(
        ApiKeyMiddleware,
        authorizer=get_authorizer,
        permission_for=permission_for,
        login_page=login_page,
    )
    if settings.cors_origins:
        # Added last, so it runs first: outside the key check (see the module docstring).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            allow_credentials=False,
            max_age=600,
        )

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's 405 lists the methods of the first route on the path only; a path that
        # several routes serve (POST and DELETE /v1/session) must list them all (RFC 9110).
        allowed = {
            method
            for route in app.router.routes
            if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE
            for method in route.methods or ()
        }
        return JSONResponse(
            {"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))}
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus_metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def observe_only(_method: str, _path: str) -> Permission:
    """The permission map of an app that only reports on itself (probes, metrics)."""
    return "observe"
