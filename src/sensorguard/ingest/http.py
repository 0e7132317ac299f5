"""The HTTP front door: POST a batch of readings, get accepted/rejected counts and reasons."""

# No `from __future__ import annotations`: FastAPI reads the route closures' annotations at runtime.

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sensorguard import metrics
from sensorguard.auth import Authorizer, Permission, principal_of
from sensorguard.errors import BackendUnavailable, Forbidden, ValidationFailed
from sensorguard.http_app import guarded_app
from sensorguard.http_limits import BodyLimitMiddleware
from sensorguard.ingest.limits import BatchLimits
from sensorguard.ingest.pipeline import DeadLettersUnrecorded, IngestPipeline
from sensorguard.ingest.ratelimit import TokenBuckets, retry_after_header, sensor_demand
from sensorguard.schemas import Problem, Rejection
from sensorguard.settings import Settings

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

READINGS_PATH = "/v1/readings"


def permission_for(method: str, path: str) -> Permission:
    """What a request to the ingest app needs: sending readings is `ingest`, the rest `observe`."""
    return "ingest" if (method, path) == ("POST", READINGS_PATH) else "observe"


class ReadingBatch(BaseModel):
    # A field beside `readings` is refused (422 naming it), not ignored: `{"reading": [...]}`
    # or rows under a second key would otherwise be dropped without a word.
    model_config = ConfigDict(extra="forbid")

    # Rows stay untyped here on purpose: the validator judges them one by one, so one bad row
    # is reported with its reason instead of failing the whole request with a 422.
    readings: list[Any] = Field(description="readings as JSON objects, validated row by row")


class IngestAnswer(BaseModel):
    accepted: int
    rejected: int
    rejections: list[Rejection]


class PartialAnswer(IngestAnswer):
    """A 503 whose readings were accepted all the same: only the dead letters are missing."""

    detail: str


# Every answer but 200 and FastAPI's own 422, documented so clients (and the schema fuzz in
# tests/fuzz) know each refusal's shape. A 503 after publishing also carries the counts.
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not UTF-8 JSON text."},
    401: {"model": Problem, "description": "No API key, or one that is not known."},
    403: {"model": Problem, "description": "The key may not send readings of these sensors."},
    413: {"model": Problem, "description": "More bytes or rows than one batch may carry."},
    429: {"model": Problem, "description": "Over the client's or a sensor's rate limit."},
    503: {"model": Problem, "description": "The stream is unavailable; retry after a while."},
}


class _TooMany(Exception):
    def __init__(self, scope: str, wait_s: float) -> None:
        self.scope = scope
        self.wait_s = wait_s


def create_app(
    pipeline: IngestPipeline,
    settings: Settings,
    authorizer: Authorizer | None = None,
) -> FastAPI:
    """Build the ingest app around a pipeline; every route needs an API key (see sensorguard.auth).

    Without `authorizer`, one is built from `settings` on the first request, on a metadata
    store of its own that the app closes at shutdown.
    """
    app = guarded_app(
        "SensorGuard ingest",
        "Validate sensor readings and publish them to the `sensor-data` stream.",
        settings,
        permission_for,
        authorizer,
    )
    get_authorizer: Callable[[], Authorizer] = app.state.get_authorizer
    limits = BatchLimits.of(settings)
    # Outermost: a body over the limit is refused as it arrives, before it is read whole,
    # parsed or even authenticated.
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_bytes)
    burst = settings.rate_limit_burst_s
    per_client = TokenBuckets.per_second(settings.rate_limit_per_client, burst)
    per_sensor = TokenBuckets.per_second(settings.rate_limit_per_sensor, burst)
    lookup = pipeline.validator.catalog.lookup

    def sensor_sites(rows: list[Any]) -> list[tuple[str, str | None]]:
        """(sensor_id, site) of each distinct sensor named, site None if unregistered."""
        ids = dict.fromkeys(
            sid for r in rows if isinstance(r, dict) and isinstance(sid := r.get("sensor_id"), str)
        )
        sites = []
        for sid in ids:
            found = lookup(sid)
            sites.append((sid, found[0].site if found else None))
        return sites

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

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
            # "Not acknowledged", not "not accepted": the producer may still deliver part of
            # the batch after the deadline (tests/resilience); a resend is safe, the store upserts.
            {
                "detail": "stream unavailable; this batch was not acknowledged, send it again "
                "later (a resend is safe: readings are stored once per sensor_id and ts)"
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DeadLettersUnrecorded)
    async def _unrecorded(_: Request, exc: DeadLettersUnrecorded) -> JSONResponse:
        log.warning("dead letters not recorded: %s", exc)
        answer = PartialAnswer(
            accepted=len(exc.result.accepted),
            rejected=len(exc.result.rejected),
            rejections=exc.result.rejected,
            detail=f"{len(exc.result.accepted)} readings were accepted; the rejections (reasons "
            "below) were not recorded, the dead-letter stream being unavailable. Resending the "
            "batch is safe: accepted readings are not stored twice",
        )
        return JSONResponse(
            answer.model_dump(mode="json"), status_code=503, headers={"Retry-After": "5"}
        )

    @app.post(READINGS_PATH, response_model=IngestAnswer, responses=REFUSALS)
    def post_readings(batch: ReadingBatch, request: Request) -> IngestAnswer:
        principal = principal_of(request)
        rows = batch.readings
        try:
            limits.check_rows(len(rows))
        except ValidationFailed as err:
            raise HTTPException(413, str(err)) from None
        # Before any token is spent: a refused batch must not eat the sensors' allowance.
        get_authorizer().authorize_sensors(
            principal, sensor_sites(rows), where=f"POST {READINGS_PATH}"
        )
        clients = {principal.username: len(rows)}
        sensors = sensor_demand(rows, lookup)
        if wait := per_client.take(clients):
            raise _TooMany("client", wait)
        if wait := per_sensor.take(sensors):
            per_client.refund(clients)
            raise _TooMany("sensor", wait)
        try:
            result = pipeline.submit(rows, source="http")
        except DeadLettersUnrecorded:
            raise  # the readings were published: the tokens were spent on them
        except BackendUnavailable:
            # Nothing was accepted, so nothing is charged: the client's retry must fit.
            per_client.refund(clients)
            per_sensor.refund(sensors)
            raise
        return IngestAnswer(
            accepted=len(result.accepted), rejected=len(result.rejected), rejections=result.rejected
        )

    return app
