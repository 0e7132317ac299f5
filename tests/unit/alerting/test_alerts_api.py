"""The alerts API: every route needs a key and the right role; the lifecycle over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alerting_helpers import SENSORS
from starlette.testclient import TestClient

from auth_support import assert_every_route_guarded, issue_keys
from sensorguard.alerting.api import create_alerts_app, permission_for
from sensorguard.alerting.delivery import LogDelivery
from sensorguard.alerting.store import AlertStore
from sensorguard.settings import get_settings
from sensorguard.wiring import open_configured_metadata


@pytest.fixture
def api() -> Iterator[tuple[TestClient, dict[str, str], AlertStore]]:
    settings = get_settings()
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(SENSORS, actor="test")
    keys = dict(issue_keys(metadata, device_sensors=["th-1"]))
    metadata.close()
    store = AlertStore.from_settings(settings)
    app = create_alerts_app(settings, store, LogDelivery())
    with TestClient(app) as client:
        yield client, keys, store
    store.close()


def test_every_route_refuses_anonymous_and_wrong_role_calls(
    api: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, _ = api
    app = client.app
    routes = assert_every_route_guarded(client, app, keys, permission_for=permission_for)
    assert ("POST", "/v1/alerts/1/ack") in routes and ("PUT", "/v1/rules/1") in routes


def test_an_operator_acknowledges_and_resolves_an_alert_over_http(
    api: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, store = api
    alert, _ = store.trigger("hot", "th-1", site="plant-1", summary="too hot")
    ops = {"X-API-Key": keys["operator"]}
    assert [a["alert_id"] for a in client.get("/v1/alerts", headers=ops).json()] == [alert.alert_id]
    acked = client.post(f"/v1/alerts/{alert.alert_id}/ack", json={"comment": "on it"}, headers=ops)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "operator"
    assert acked.json()["silence_id"]
    assert client.post(f"/v1/alerts/{alert.alert_id}/ack", headers=ops).status_code == 409
    done = client.post(f"/v1/alerts/{alert.alert_id}/resolve", headers=ops)
    assert done.json()["state"] == "resolved"
    events = client.get(f"/v1/alerts/{alert.alert_id}/events", headers=ops).json()
    assert [(e["event"], e["actor"]) for e in events] == [
        ("opened", "engine"),
        ("acknowledged", "operator"),
        ("resolved", "operator"),
    ]
    assert client.get("/v1/alerts/999", headers=ops).status_code == 404
    history = client.get("/v1/alerts/history", params={"site": "plant-1"}, headers=ops).json()
    assert [a["state"] for a in history] == ["resolved"]


def test_rules_are_put_and_listed_and_a_bad_one_is_refused_naming_the_field(
    api: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, _ = api
    ops = {"X-API-Key": keys["operator"]}
    rule = {"severity": "critical", "condition": {"type": "deadman", "silent_minutes": 10}}
    assert client.put("/v1/rules/silent", json=rule, headers=ops).status_code == 200
    assert [r["name"] for r in client.get("/v1/rules", headers=ops).json()] == ["silent"]
    bad = client.put("/v1/rules/x", json={"condition": {"type": "deadman"}}, headers=ops)
    assert bad.status_code == 422 and "silent_minutes" in bad.text
