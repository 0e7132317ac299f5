"""The operators' page in headless Chromium (Debian's package, driven by playwright) as an
operator uses it: sign in, watch a score arrive over the WebSocket, acknowledge an alert.

The screenshot goes to test-output/operators-page.png (or $SENSORGUARD_TEST_OUTPUT).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pytest
from page_support import OUTPUT
from playwright.sync_api import Browser, Page, expect

from auth_support import issue_keys
from sensorguard.alerting.api import create_alerts_app
from sensorguard.alerting.delivery import LogDelivery
from sensorguard.alerting.store import AlertStore
from sensorguard.schemas import Score, Sensor, utc_now
from sensorguard.serve_thread import serve_in_thread
from sensorguard.settings import get_settings
from sensorguard.stream import ANOMALY_SCORES
from sensorguard.stream.codec import encode_score
from sensorguard.wiring import open_configured_metadata, open_configured_stream

SENSORS = (
    Sensor(sensor_id="th-101", sensor_type="climate", site="plant-1"),
    Sensor(sensor_id="th-102", sensor_type="climate", site="plant-1"),
    Sensor(sensor_id="snd-201", sensor_type="acoustic", site="plant-1"),
    Sensor(sensor_id="th-900", sensor_type="climate", site="plant-2"),
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def served() -> Iterator[tuple[str, str, AlertStore]]:
    settings = get_settings()
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="test")
    metadata.add_sensors(SENSORS, actor="test")
    keys = issue_keys(metadata, roles=["operator"])
    metadata.close()
    store = AlertStore.from_settings(settings)
    with serve_in_thread(create_alerts_app(settings, store, LogDelivery())) as url:
        yield url, keys["operator"], store
    store.close()


def _score(sensor_id: str, value: float, *, flag: bool) -> Score:
    return Score(
        sensor_id=sensor_id,
        ts=utc_now(),
        score=value,
        flag=flag,
        threshold=4.0,
        model="sensorguard-climate",
        model_version="7",
        kind="level_shift" if flag else "",
        contributions={"temperature": 0.8, "humidity": 0.2} if flag else {},
    )


def _sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/live?site=plant-1")
    expect(page.get_by_label("API key")).to_be_visible()  # the 401 answer is the sign-in form
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("live", timeout=20_000)


def test_an_operator_sees_a_live_score_and_acknowledges_an_alert(
    browser: Browser, served: tuple[str, str, AlertStore]
) -> None:
    url, key, store = served
    page = browser.new_page(viewport={"width": 1400, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    _sign_in(page, url, key)
    sensors = page.locator("#sensors tbody tr")
    expect(sensors).to_have_count(3)  # plant-1 only
    expect(page.locator("#alerts")).to_contain_text("No open alerts.")

    stream = open_configured_stream(get_settings())
    try:
        # A minute of history per sensor, so the sparklines have a shape; the last one counts.
        history = [
            (sensor_id, encode_score(_score(sensor_id, base + 0.4 * math.sin(i / 3), flag=False)))
            for i in range(30)
            for sensor_id, base in (("th-101", 1.0), ("th-102", 1.5))
        ]
        stream.publish(
            ANOMALY_SCORES,
            [
                *history,
                ("th-101", encode_score(_score("th-101", 1.25, flag=False))),
                ("th-102", encode_score(_score("th-102", 6.5, flag=True))),
                ("th-900", encode_score(_score("th-900", 9.0, flag=True))),  # another site
            ],
        )
    finally:
        stream.close()
    flagged = page.locator('tr[data-sensor="th-102"]')
    expect(flagged.locator(".score")).to_have_text("6.50", timeout=20_000)
    expect(flagged.locator(".verdict")).to_have_text("level_shift")
    expect(flagged).to_contain_text("temperature 80%")
    expect(page.locator('tr[data-sensor="th-101"] .verdict')).to_have_text("normal")
    expect(page.locator('tr[data-sensor="th-900"]')).to_have_count(0)

    alert, _ = store.trigger(
        "level-shift",
        "th-102",
        site="plant-1",
        severity="critical",
        score=6.5,
        kind="level_shift",
        contributions={"temperature": 0.8, "humidity": 0.2},
        summary="level_shift (score 6.5; temperature 80%, humidity 20%)",
    )
    row = page.locator(f'#alerts tr[data-alert-id="{alert.alert_id}"]')
    expect(row).to_contain_text("level-shift", timeout=20_000)  # pushed as an alert event
    OUTPUT.mkdir(parents=True, exist_ok=True)
    row.get_by_role("button", name="Acknowledge").click()
    expect(row.locator(".state")).to_have_text("acknowledged by operator")
    page.screenshot(path=str(OUTPUT / "operators-page.png"), full_page=True)
    assert store.get(alert.alert_id).state == "acknowledged"
    assert store.get(alert.alert_id).acknowledged_by == "operator"

    row.get_by_label("verdict").select_option("false_alarm")
    # Another alert arrives before the click and redraws the table: the pick must survive it.
    other, _ = store.trigger("level-shift", "th-101", site="plant-1", severity="warning")
    expect(page.locator(f'#alerts tr[data-alert-id="{other.alert_id}"]')).to_have_count(
        1, timeout=20_000
    )
    row.get_by_role("button", name="Resolve").click()
    expect(row).to_have_count(0)
    assert store.get(alert.alert_id).state == "resolved"
    store.resolve(other.alert_id, "engine")
    expect(page.locator("#alerts")).to_contain_text("No open alerts.", timeout=20_000)
    [label] = store.labels.find(sensor_ids=["th-102"])
    assert (label.alert_id, label.verdict, label.actor) == (
        alert.alert_id,
        "false_alarm",
        "operator",
    )
    assert not errors, errors


def test_a_notification_link_opens_the_sensors_recent_scores(
    browser: Browser, served: tuple[str, str, AlertStore]
) -> None:
    url, key, _ = served
    page = browser.new_page()
    _sign_in(page, url, key)
    page.goto(f"{url}/live?sensor=th-101")
    expect(page.locator("#focus")).to_be_visible()
    expect(page.locator("#focus-id")).to_have_text("th-101")
    expect(page.locator("#site")).to_have_value("plant-1")
    expect(page).to_have_url(re.compile(r"sensor=th-101"))
