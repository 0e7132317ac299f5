"""The HTTP front door: POST a batch of readings, get accepted/rejected counts and reasons."""

# No `from __future__ import annotations`: FastAPI must resolve the closures in Depends().

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.ingest.ratelimit import TokenBuckets, retry_after_header, sensor_demand
from sensorguard.schemas import Rejection
from sensorguard.settings import Settings

log = logging.getLogger(__name__)

# Who may call: None when keys are not required, else the key's owner (never the key itself).
Authenticator = Callable[[str], str | None]


class ReadingBatch(BaseModel):
    # Rows stay untyped here on purpose: the validator judges them one by one, so one bad row
    # is reported with its reason instead of failing the whole request with a 422.
    readings: list[Any] = Field(description="readings as JSON objects, validated row by row")


class IngestAnswer(BaseModel):
    accepted: int
    rejected: int
    rejections: list[Rejection]


class _TooMany(Exception):
    def __init__(self, scope: str, wait_s: float) -> None:
        self.scope = scope
        self.wait_s = wait_s


def create_app(
    pipeline: IngestPipeline,
    settings: Settings,
    authenticate: Authenticator | None = None,
) -> FastAPI:
    """Build the ingest app around a pipeline; `authenticate` turns on X-API-Key checks."""
    app = FastAPI(
        title="SensorGuard ingest",
        summary="Validate sensor readings and publish them to the `sensor-data` stream.",
        version="1",
    )
    burst = settings.rate_limit_burst_s
    per_client = TokenBuckets.per_second(settings.rate_limit_per_client, burst)
    per_sensor = TokenBuckets.per_second(settings.rate_limit_per_sensor, burst)

    def client_id(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> str:
        if authenticate is None:
            return request.client.host if request.client else "unknown"
        owner = authenticate(x_api_key) if x_api_key else None
        if owner is None:
            raise HTTPException(401, "a valid X-API-Key header is required")
        return owner

    @app.exception_handler(_TooMany)
    async def _too_many(_: Request, exc: _TooMany) -> JSONResponse:
        metrics.RATE_LIMITED.labels(exc.scope).inc()
        return JSONResponse(
            {"detail": f"{exc.scope} rate limit exceeded; retry after {exc.wait_s:.1f}s"},
            status_code=429,
            headers={"Retry-After": retry_after_header(exc.wait_s)},
        )

    @app.exception_handler(BackendUnavailable)
    async def _unavailable(_: Request, exc: BackendUnavailable) -> JSONResponse:
        log.warning("stream unavailable, batch refused: %s", exc)
        return JSONResponse(
            {"detail": "stream unavailable; nothing from this batch was accepted, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.post("/v1/readings", response_model=IngestAnswer)
    def post_readings(
        batch: ReadingBatch, client: Annotated[str, Depends(client_id)]
    ) -> IngestAnswer:
        rows = batch.readings
        if len(rows) > settings.ingest_max_batch:
            raise HTTPException(
                413, f"readings must hold at most {settings.ingest_max_batch} rows, got {len(rows)}"
            )
        sensors = sensor_demand(rows, pipeline.validator.catalog.lookup)
        clients = {client: len(rows)}
        for scope, buckets, wants in (
            ("client", per_client, clients),
            ("sensor", per_sensor, sensors),
        ):
            wait = buckets.wait_for(wants)
            if wait:
                raise _TooMany(scope, wait)
        per_client.spend(clients)
        per_sensor.spend(sensors)
        result = pipeline.submit(rows, source="http")
        return IngestAnswer(
            accepted=len(result.accepted), rejected=len(result.rejected), rejections=result.rejected
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus_metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
