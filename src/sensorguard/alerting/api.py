"""The alerts HTTP API: rules, active alerts and history; acknowledge and resolve.

Every route needs a key (`sensorguard.http_app.guarded_app`): reading needs `read`, changing
rules or alerts needs `alerts` (operators, data scientists, admins). The actor of a change is
the key's user; acknowledging silences the alert's notifications like `sensorguard alerts ack`.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures at runtime.

from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel

from sensorguard.alerting import actions
from sensorguard.alerting.delivery import Delivery, delivery_from_settings
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import AlertRule, parse_rule, stored_rules
from sensorguard.alerting.store import AlertStore
from sensorguard.auth import Permission, principal_of
from sensorguard.errors import ConfigError, NotFound, ValidationFailed
from sensorguard.http_app import guarded_app
from sensorguard.settings import Settings

ALERTS_PREFIX = "/v1/alerts"
RULES_PREFIX = "/v1/rules"


def permission_for(method: str, path: str) -> Permission:
    """Reads need `read`; acknowledging, resolving and changing rules need `alerts`."""
    if path.startswith((ALERTS_PREFIX, RULES_PREFIX)):
        return "read" if method in ("GET", "HEAD") else "alerts"
    return "observe"


class Acknowledge(BaseModel):
    comment: str = "acknowledged"


class Resolve(BaseModel):
    reason: str = "resolved by an operator"


def create_alerts_app(
    settings: Settings, store: AlertStore | None = None, delivery: Delivery | None = None
) -> FastAPI:
    """The alerts API over the configured metadata database and delivery."""
    from sensorguard.wiring import open_configured_metadata

    app = guarded_app(
        "SensorGuard alerts",
        "Alert rules, the alert lifecycle and its history.",
        settings,
        permission_for,
    )
    alerts = store or AlertStore.from_settings(settings)
    sender = delivery or delivery_from_settings(settings)

    def actor(request: Request) -> str:
        return principal_of(request).username

    def found(alert_id: int) -> Alert:
        try:
            return alerts.get(alert_id)
        except NotFound as err:
            raise HTTPException(404, str(err)) from None

    @app.get(ALERTS_PREFIX, response_model=list[Alert])
    def active() -> list[Alert]:
        """Alerts not resolved yet."""
        return alerts.active()

    @app.get(f"{ALERTS_PREFIX}/history", response_model=list[Alert])
    def history(
        sensor: Annotated[str | None, Query()] = None,
        site: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[Alert]:
        """Alerts of any state, newest first, by sensor and site."""
        return alerts.history(sensor_id=sensor, site=site, limit=limit)

    @app.get(f"{ALERTS_PREFIX}/{{alert_id}}", response_model=Alert)
    def one(alert_id: int) -> Alert:
        return found(alert_id)

    @app.get(f"{ALERTS_PREFIX}/{{alert_id}}/events")
    def events(alert_id: int) -> list[dict[str, Any]]:
        found(alert_id)
        return alerts.events(alert_id)

    @app.post(f"{ALERTS_PREFIX}/{{alert_id}}/ack", response_model=Alert)
    def acknowledge(alert_id: int, request: Request, body: Acknowledge | None = None) -> Alert:
        """Acknowledge: its notifications are silenced."""
        found(alert_id)
        try:
            return actions.acknowledge(
                alerts, sender, alert_id, actor(request), (body or Acknowledge()).comment
            )
        except ValidationFailed as err:
            raise HTTPException(409, str(err)) from None

    @app.post(f"{ALERTS_PREFIX}/{{alert_id}}/resolve", response_model=Alert)
    def resolve(alert_id: int, request: Request, body: Resolve | None = None) -> Alert:
        """Resolve by hand: the silence is lifted and receivers hear 'resolved'."""
        found(alert_id)
        try:
            return actions.resolve(
                alerts, sender, alert_id, actor(request), (body or Resolve()).reason
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

    @app.put(f"{RULES_PREFIX}/{{name}}", response_model=AlertRule)
    def put_rule(
        name: str, request: Request, definition: Annotated[dict[str, Any], Body()]
    ) -> AlertRule:
        """Create or replace a rule (same format as a rules YAML entry, without the name)."""
        try:
            rule = parse_rule({**definition, "name": name}, source=f"rule {name}")
        except ConfigError as err:
            raise HTTPException(422, str(err)) from None
        metadata = open_configured_metadata(settings)
        try:
            metadata.put_alert_rule(rule.name, rule.definition(), actor=actor(request))
        except ValidationFailed as err:
            raise HTTPException(422, str(err)) from None
        finally:
            metadata.close()
        return rule

    return app
