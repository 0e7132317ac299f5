"""The live feed and the page's sign-in: scores and alert events over the WebSocket, filtered
by site; a browser's cookie counts only where a browser's intent is clear."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alerting_helpers import SENSORS
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from auth_support import issue_keys
from sensorguard.alerting.api import create_alerts_app
from sensorguard.alerting.delivery import LogDelivery
from sensorguard.alerting.live import LiveBatch, LiveFilter, LiveScore, Subscription
from sensorguard.alerting.store import AlertStore
from sensorguard.auth import SESSION_COOKIE
from sensorguard.schemas import Score, utc_now
from sensorguard.settings import get_settings
from sensorguard.stream import ANOMALY_SCORES
from sensorguard.stream.codec import encode_score
from sensorguard.wiring import (
    open_configured_metadata,
    open_configured_store,
    open_configured_stream,
)

pytestmark = pytest.mark.timeout(60)


def _score(sensor_id: str, ts: datetime, value: float = 1.0, *, flag: bool = False) -> Score:
    return Score(
        sensor_id=sensor_id,
        ts=ts,
        score=value,
        flag=flag,
        threshold=4.0,
        model="sensorguard-climate",
        model_version="3",
        kind="spike" if flag else "",
        contributions={"temperature": 1.0} if flag else {},
    )


@pytest.fixture
def app_client() -> Iterator[tuple[TestClient, dict[str, str], AlertStore]]:
    settings = get_settings()
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(SENSORS, actor="test")
    keys = dict(issue_keys(metadata))
    metadata.close()
    store = AlertStore.from_settings(settings)
    with TestClient(create_alerts_app(settings, store, LogDelivery())) as client:
        yield client, keys, store
    store.close()


def test_the_feed_streams_scores_and_alert_events_of_the_site_asked_for(
    app_client: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, store = app_client
    stream = open_configured_stream(get_settings())
    now = utc_now()
    # Published before anyone listens: a live view starts at the end, so this is never sent.
    stream.publish(ANOMALY_SCORES, [("th-1", encode_score(_score("th-1", now, 9.0)))])
    with client.websocket_connect(
        "/v1/live?site=plant-1", headers={"X-API-Key": keys["operator"]}
    ) as ws:
        assert ws.receive_json()["ready"] is True
        stream.publish(
            ANOMALY_SCORES,
            [
                ("th-2", encode_score(_score("th-2", now + timedelta(seconds=1), 2.0))),
                ("th-1", encode_score(_score("th-1", now + timedelta(seconds=1), 7.5, flag=True))),
            ],
        )
        store.trigger("hot", "th-1", site="plant-1", score=7.5, kind="spike", summary="spike")
        store.trigger("hot", "th-2", site="plant-2", summary="other site")
        scores, events = [], []
        while not (scores and events):
            batch = LiveBatch.model_validate(ws.receive_json())
            scores += batch.scores
            events += batch.alerts
    stream.close()
    assert [(s.sensor_id, s.site, s.score, s.flag, s.kind) for s in scores] == [
        ("th-1", "plant-1", 7.5, True, "spike")
    ]
    assert [(e.event.event, e.alert.sensor_id, e.alert.rule) for e in events] == [
        ("opened", "th-1", "hot")
    ]


def test_a_device_key_cannot_open_the_feed(
    app_client: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, _ = app_client
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/v1/live", headers={"X-API-Key": keys["device"]}),
    ):
        pass
    assert closed.value.code == 4403


def test_a_browser_signs_in_once_and_its_cookie_counts_only_with_a_browsers_intent(
    app_client: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, store = app_client
    html = {"Accept": "text/html"}
    login = client.get("/live", headers=html)
    assert login.status_code == 401 and "API key" in login.text and "Open alerts" not in login.text
    assert client.get("/live").json()["detail"]  # a program gets the JSON refusal

    signed = client.post("/v1/session", headers={"X-API-Key": keys["operator"]})
    assert signed.status_code == 200 and signed.json() == {
        "username": "operator",
        "role": "operator",
    }
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.cookies.get(SESSION_COOKIE) == keys["operator"]

    page = client.get("/live", headers=html)
    assert page.status_code == 200 and "Open alerts" in page.text
    assert client.get("/v1/sensors", params={"site": "plant-1"}).status_code == 200

    alert, _ = store.trigger("hot", "th-1", site="plant-1")
    # A form on another site would send the cookie too, but never the page's header.
    assert client.post(f"/v1/alerts/{alert.alert_id}/ack").status_code == 401
    acked = client.post(
        f"/v1/alerts/{alert.alert_id}/ack", headers={"X-Requested-With": "sensorguard"}
    )
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "operator"

    # Cross-site websocket hijacking: the cookie is refused from a foreign origin.
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/v1/live", headers={"Origin": "http://evil.example"}),
    ):
        pass
    assert closed.value.code == 4401
    with client.websocket_connect("/v1/live", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["ready"] is True

    client.request("DELETE", "/v1/session", headers={"X-Requested-With": "sensorguard"})
    assert client.get("/live", headers=html).status_code == 401


def test_a_sensors_recent_scores_are_what_notifications_link_to(
    app_client: tuple[TestClient, dict[str, str], AlertStore],
) -> None:
    client, keys, _ = app_client
    ops = {"X-API-Key": keys["operator"]}
    store = open_configured_store(get_settings())
    now = utc_now().replace(microsecond=0)
    store.write_scores([_score("th-1", now - timedelta(minutes=m)) for m in (90, 30, 10)])
    store.close()
    recent = client.get("/v1/sensors/th-1/scores", params={"minutes": 60}, headers=ops)
    assert [datetime.fromisoformat(s["ts"]) for s in recent.json()] == [
        now - timedelta(minutes=30),
        now - timedelta(minutes=10),
    ]
    assert client.get("/v1/sensors/nope/scores", headers=ops).status_code == 404


def test_a_slow_subscriber_is_told_what_it_missed_instead_of_holding_the_feed() -> None:
    async def scenario() -> list[LiveBatch]:
        sub = Subscription(LiveFilter(), asyncio.get_running_loop())
        one = LiveScore(
            sensor_id="th-1",
            site="plant-1",
            ts=datetime(2026, 1, 1, tzinfo=UTC),
            score=1.0,
            flag=False,
            threshold=4.0,
        )
        for _ in range(sub.queue.maxsize + 3):
            sub.offer(LiveBatch(scores=[one, one]))
        got = [sub.queue.get_nowait() for _ in range(sub.queue.maxsize)]
        sub.offer(LiveBatch(scores=[one]))
        return [*got, sub.queue.get_nowait()]

    batches = asyncio.run(scenario())
    assert all(b.dropped == 0 for b in batches[:-1])
    assert batches[-1].dropped == 6 and len(batches[-1].scores) == 1


def test_filters_take_comma_separated_sites_and_sensors() -> None:
    wanted = LiveFilter.parse("plant-1, plant-2", None)
    assert wanted.admits("x", "plant-2") and not wanted.admits("x", "plant-3")
    assert LiveFilter.parse(None, "th-1").admits("th-1", "anywhere")
    assert not LiveFilter.parse(None, "th-1").admits("th-2", "plant-1")
