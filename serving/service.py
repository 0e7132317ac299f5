"""The BentoML service: `POST /score` with each group's champion, `GET /models`, probes, metrics.

Run it with `make serve` (or `bentoml serve service:SensorGuard` from this folder). All logic
lives in `sensorguard.serving.service.ScoringService`; this file only declares the web surface.
Every route, including /metrics, /docs and the probes, needs an API key
(`sensorguard.auth.ApiKeyMiddleware`); settings come from SENSORGUARD_* variables.
"""

from __future__ import annotations

import bentoml
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from fastapi import FastAPI

from sensorguard.auth import ApiKeyMiddleware, Authorizer, Permission
from sensorguard.errors import ModelUnavailable, ValidationFailed
from sensorguard.http_limits import BodyLimitMiddleware
from sensorguard.schemas import Reading
from sensorguard.serving.bento_errors import DocumentedErrors, JsonBodiesOnly
from sensorguard.serving.service import ModelInfo, ScoreAnswer, ScoringService
from sensorguard.settings import get_settings

# Routes that read scores and models; every other route (metrics, docs, probes) is "observe".
_READ_ROUTES = {("POST", "/score"), ("GET", "/models")}


def permission_for(method: str, path: str) -> Permission:
    return "read" if (method, path.rstrip("/") or "/") in _READ_ROUTES else "observe"


def _authorizer() -> Authorizer:
    from sensorguard.wiring import open_configured_metadata

    settings = get_settings()
    return Authorizer(open_configured_metadata(settings), settings)


# The decorators below need the bind address and limits when this file is imported: read them
# from the settings (one home for their defaults), opening no backend.
_SETTINGS = get_settings()

models_app = FastAPI(title="SensorGuard models", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(
    name="sensorguard",
    http={
        "host": _SETTINGS.serve_host,
        "port": _SETTINGS.serve_port,
    },
    # Beyond max_concurrency requests are answered 503 at once instead of queueing behind
    # work whose clients have given up (measured: 10 s at 100 req/s left 45 s of backlog).
    traffic={
        "timeout": 30,
        "max_concurrency": _SETTINGS.serve_max_concurrency,
    },
    workers=1,
)
@bentoml.asgi_app(models_app, path="/")
class SensorGuard:
    """Scores readings of any sensors with their groups' @champion models."""

    def __init__(self) -> None:
        self.core = ScoringService.from_settings(get_settings())
        self.core.start()

    @bentoml.api(route="/score")
    def score(self, readings: list[Reading]) -> ScoreAnswer:
        """Readings (sensor_id, ts, channels) -> per reading: score, flag, threshold, kind,
        contributions, group, model and version, and the history rows used."""
        try:
            return self.core.score(readings)
        except ValidationFailed as err:
            raise InvalidArgument(str(err)) from None
        except ModelUnavailable as err:
            raise ServiceUnavailable(str(err)) from None

    @models_app.get("/models")
    def models(self) -> list[ModelInfo]:
        """Each group's served model: version, detector, metrics, when it was trained."""
        return self.core.models()

    def __is_ready__(self) -> bool:
        return self.core.ready()


# First, so outermost: every refusal (BentoML's own, the key's, the body limit's) leaves in the
# shape the OpenAPI schema documents.
SensorGuard.add_asgi_middleware(DocumentedErrors)
SensorGuard.add_asgi_middleware(BodyLimitMiddleware, max_bytes=_SETTINGS.serve_max_bytes)
SensorGuard.add_asgi_middleware(
    ApiKeyMiddleware, authorizer=_authorizer, permission_for=permission_for
)
# Innermost: only an authenticated request learns which body type the service takes.
SensorGuard.add_asgi_middleware(JsonBodiesOnly)
