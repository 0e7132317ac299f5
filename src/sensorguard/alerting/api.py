"""The operators' app: the alerts API, the live feed and the operators' page.

- `/v1/alerts`, `/v1/rules`: active alerts, history, acknowledge and resolve (with an optional
  verdict, stored as a label training reads), `/v1/alerts/labels`, rules;
- `/v1/sensors`, `/v1/sensors/{id}/scores`: the fleet and a sensor's recent verdicts (what
  notifications link to, through the page);
- WebSocket `/v1/live?site=..&sensor=..`: scores and alert events as they happen
  (:mod:`sensorguard.alerting.live`);
- `/live`: one HTML page (no build step) over the routes above.

Every route needs a key (`sensorguard.http_app.guarded_app`): reading needs `read`, changing
rules or alerts needs `alerts` (operators, data scientists, admins). Programs send the key as a
header; a browser signs in once (`POST /v1/session` puts it in an HttpOnly cookie, see
`sensorguard.auth.session_key`). The actor of a change is the key's user; acknowledging
silences the alert's notifications like `sensorguard alerts ack`.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures at runtime.

from datetime import timedelta
from importlib.resources import files
from typing import Annotated, Any

import anyio
from anyio.to_thread import run_sync
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from sensorguard.alerting import actions
from sensorguard.alerting.delivery import Delivery, delivery_from_settings
from sensorguard.alerting.live import LiveBatch, LiveFilter, LiveHub
from sensorguard.alerting.records import Alert, Verdict, VerdictLabel
from sensorguard.alerting.rules import AlertRule, parse_rule, stored_rules
from sensorguard.alerting.store import AlertStore
from sensorguard.auth import SESSION_COOKIE, Permission, principal_of
from sensorguard.errors import ConfigError, NotFound, ValidationFailed
from sensorguard.http_app import guarded_app
from sensorguard.schemas import Problem, Score, Sensor, utc_now
from sensorguard.settings import Settings

ALERTS_PREFIX = "/v1/alerts"
RULES_PREFIX = "/v1/rules"
SENSORS_PREFIX = "/v1/sensors"
LIVE_FEED = "/v1/live"
SESSION = "/v1/session"
PAGE = "/live"
# Long enough for a shift; the key itself stays valid until revoked.
SESSION_MAX_AGE_S = 12 * 3600


def _page(name: str) -> bytes:
    return files("sensorguard.alerting").joinpath("page", name).read_bytes()


def permission_for(method: str, path: str) -> Permission:
    """Reads need `read`; acknowledging, resolving and changing rules need `alerts`; the page,
    the feed, the fleet and signing in need `read`."""
    if path.startswith((ALERTS_PREFIX, RULES_PREFIX)):
        return "read" if method in ("GET", "HEAD") else "alerts"
    if path.startswith((SENSORS_PREFIX, LIVE_FEED, SESSION)) or path == PAGE:
        return "read"
    return "observe"


# Refusals beyond FastAPI's own 422, documented in the OpenAPI schema with their shape.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such alert, or the sensor is not registered."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The alert's state does not allow this (already done)."}
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not UTF-8 JSON text."}
}
# Alert ids are SQLite rowids: a larger number is no alert (422), not a driver overflow (500).
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _refused_rule(err: Exception) -> RequestValidationError:
    """A rule refused by its own checks, answered as FastAPI's 422 (the shape the route
    documents), the message naming the field."""
    return RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": str(err)}])


class Acknowledge(BaseModel):
    comment: str = "acknowledged"
    # Stored as a label training reads (see sensorguard.training.labels.LabelSet).
    verdict: Verdict | None = None


class Resolve(BaseModel):
    reason: str = "resolved by an operator"
    verdict: Verdict | None = None


def create_alerts_app(
    settings: Settings, store: AlertStore | None = None, delivery: Delivery | None = None
) -> FastAPI:
    """The operators' app over the configured metadata database, store, stream and delivery."""
    from sensorguard.validation import CachedCatalog
    from sensorguard.wiring import (
        open_configured_metadata,
        open_configured_store,
        open_configured_stream,
    )

    app = guarded_app(
        "SensorGuard operators",
        "Alert rules, the alert lifecycle and its history; the live feed and the page.",
        settings,
        permission_for,
        login_page=_page("login.html"),
    )
    alerts = store or AlertStore.from_settings(settings)
    sender = delivery or delivery_from_settings(settings)
    # Opened for the app's lifetime: the fleet for the feed's sites, the store for the scores.
    fleet = open_configured_metadata(settings)
    catalog = CachedCatalog(fleet)
    series = open_configured_store(settings)

    def site_of(sensor_id: str) -> str:
        found = catalog.lookup(sensor_id)
        return found[0].site if found else ""

    hub = LiveHub(lambda: open_configured_stream(settings), alerts, site_of)
    app.state.live_hub = hub
    app.state.closers.extend([fleet.close, series.close, hub.close])

    def actor(request: Request) -> str:
        return principal_of(request).username

    def found(alert_id: int) -> Alert:
        try:
            return alerts.get(alert_id)
        except NotFound as err:
            raise HTTPException(404, str(err)) from None

    @app.get(PAGE, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        """The operators' page: live scores per sensor of a site, open alerts, ack/resolve."""
        return HTMLResponse(_page("live.html"), headers={"cache-control": "no-store"})

    @app.post(SESSION)
    def sign_in(request: Request, response: Response) -> dict[str, str]:
        """Keep the key sent (as a header) in an HttpOnly cookie for this browser."""
        key = request.headers.get("x-api-key")
        who = principal_of(request)
        if key:  # with keys off (development) there is nothing to keep
            response.set_cookie(
                SESSION_COOKIE,
                key,
                max_age=SESSION_MAX_AGE_S,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return {"username": who.username, "role": who.role}

    @app.delete(SESSION)
    def sign_out(response: Response) -> dict[str, str]:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return {"status": "signed out"}

    @app.get(SENSORS_PREFIX, response_model=list[Sensor])
    def sensors(site: Annotated[str | None, Query()] = None) -> list[Sensor]:
        """Registered sensors, of one site if given."""
        return fleet.list_sensors(site=site)

    @app.get(
        f"{SENSORS_PREFIX}/{{sensor_id}}/scores", response_model=list[Score], responses=NOT_FOUND
    )
    def sensor_scores(
        sensor_id: str,
        minutes: Annotated[float, Query(gt=0, le=7 * 24 * 60)] = 60,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[Score]:
        """The sensor's verdicts of the last `minutes` (the newest `limit`), oldest first."""
        if catalog.lookup(sensor_id) is None:
            raise HTTPException(404, f"sensor {sensor_id!r} is not registered")
        end = utc_now()
        found = series.read_scores([sensor_id], end - timedelta(minutes=minutes), end)
        return found[-limit:]

    @app.websocket(LIVE_FEED)
    async def live(
        websocket: WebSocket,
        site: Annotated[str | None, Query()] = None,
        sensor: Annotated[str | None, Query()] = None,
    ) -> None:
        """Scores and alert events of the sites/sensors asked for (comma-separated lists), as
        JSON batches `{scores, alerts, dropped}`; the first message says `ready`."""
        await websocket.accept()
        subscription = hub.subscribe(LiveFilter.parse(site, sensor))

        async def send_batches(done: anyio.CancelScope) -> None:
            if not await run_sync(hub.wait_ready):
                await websocket.close(code=1011, reason="the live feed cannot read the stream")
                done.cancel()
                return
            await websocket.send_text(LiveBatch(ready=True).model_dump_json())
            while True:
                batch = await subscription.next()
                if subscription.ended:
                    await websocket.close(code=1011, reason="the live feed stopped; reconnect")
                    done.cancel()
                    return
                await websocket.send_text(batch.model_dump_json())

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(send_batches, tasks.cancel_scope)
                # The client sends nothing; reading is how its going away is noticed while
                # no batch is due (else an idle feed would keep a closed socket's queue).
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
                tasks.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(subscription)

    @app.get(ALERTS_PREFIX, response_model=list[Alert])
    def active(site: Annotated[str | None, Query()] = None) -> list[Alert]:
        """Alerts not resolved yet (of one site if given)."""
        return [a for a in alerts.active() if site is None or a.site == site]

    @app.get(f"{ALERTS_PREFIX}/history", response_model=list[Alert])
    def history(
        sensor: Annotated[str | None, Query()] = None,
        site: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[Alert]:
        """Alerts of any state, newest first, by sensor and site."""
        return alerts.history(sensor_id=sensor, site=site, limit=limit)

    @app.get(f"{ALERTS_PREFIX}/labels", response_model=list[VerdictLabel])
    def labels(
        sensor: Annotated[str | None, Query()] = None,
        verdict: Annotated[Verdict | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[VerdictLabel]:
        """Operators' verdicts on alerts (the labels training reads), newest last."""
        stored = alerts.labels.find(
            sensor_ids=None if sensor is None else [sensor], verdict=verdict
        )
        return stored[-limit:]

    @app.get(f"{ALERTS_PREFIX}/{{alert_id}}", response_model=Alert, responses=NOT_FOUND)
    def one(alert_id: AlertId) -> Alert:
        return found(alert_id)

    @app.get(f"{ALERTS_PREFIX}/{{alert_id}}/events", responses=NOT_FOUND)
    def events(alert_id: AlertId) -> list[dict[str, Any]]:
        found(alert_id)
        return alerts.events(alert_id)

    @app.post(
        f"{ALERTS_PREFIX}/{{alert_id}}/ack",
        response_model=Alert,
        responses=NOT_FOUND | CONFLICT | BAD_BODY,
    )
    def acknowledge(alert_id: AlertId, request: Request, body: Acknowledge | None = None) -> Alert:
        """Acknowledge: its notifications are silenced."""
        found(alert_id)
        asked = body or Acknowledge()
        try:
            return actions.acknowledge(
                alerts, sender, alert_id, actor(request), asked.comment, asked.verdict
            )
        except ValidationFailed as err:
            raise HTTPException(409, str(err)) from None

    @app.post(
        f"{ALERTS_PREFIX}/{{alert_id}}/resolve",
        response_model=Alert,
        responses=NOT_FOUND | CONFLICT | BAD_BODY,
    )
    def resolve(alert_id: AlertId, request: Request, body: Resolve | None = None) -> Alert:
        """Resolve by hand: the silence is lifted and receivers hear 'resolved'."""
        found(alert_id)
        asked = body or Resolve()
        try:
            return actions.resolve(
                alerts, sender, alert_id, actor(request), asked.reason, asked.verdict
            )
        except ValidationFailed as err:
            raise HTTPException(409, str(err)) from None

    @app.get(RULES_PREFIX, response_model=list[AlertRule])
    def rules() -> list[AlertRule]:
        metadata = open_configured_metadata(settings)
        try:
            return stored_rules(metadata)
        finally:
            metadata.close()

    @app.put(f"{RULES_PREFIX}/{{name}}", response_model=AlertRule, responses=BAD_BODY)
    def put_rule(
        name: str, request: Request, definition: Annotated[dict[str, Any], Body()]
    ) -> AlertRule:
        """Create or replace a rule (same format as a rules YAML entry, without the name)."""
        try:
            rule = parse_rule({**definition, "name": name}, source=f"rule {name}")
        except ConfigError as err:
            raise _refused_rule(err) from None
        metadata = open_configured_metadata(settings)
        try:
            metadata.put_alert_rule(rule.name, rule.definition(), actor=actor(request))
        except ValidationFailed as err:
            raise _refused_rule(err) from None
        finally:
            metadata.close()
        return rule

    return app
