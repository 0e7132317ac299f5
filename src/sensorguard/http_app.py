"""The base of every SensorGuard HTTP app: API keys on every route, a liveness probe, metrics.

Ingest and the stream scorer's metrics endpoint start from :func:`guarded_app`, so each gets
the same authentication, the same `/healthz` and the same Prometheus `/metrics` (the
BentoML service has BentoML's own probes and metrics behind the same middleware).
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures at runtime.

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from sensorguard.auth import ApiKeyMiddleware, Authorizer, LazyAuthorizer, Permission
from sensorguard.settings import Settings

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore


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
