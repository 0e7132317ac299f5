"""AlertmanagerDelivery against the real Prometheus Alertmanager (Debian's 0.25).

The shared server of infra/local/services.sh (127.0.0.1:9094) checks the API round trip. What a
receiver gets needs the receiver's URL in Alertmanager's config, so that part runs a second,
test-owned Alertmanager on free ports, with short intervals so it takes seconds, not minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sensorguard.alerting.delivery import AlertmanagerDelivery
from sensorguard.alerting.records import Alert
from sensorguard.serve_thread import free_port
from servers import require_server
from webhook_receiver import Body, Receiver, webhook_receiver

pytestmark = pytest.mark.integration

ALERTMANAGER = os.environ.get("SENSORGUARD_TEST_ALERTMANAGER", "127.0.0.1:9094")
REPO = Path(__file__).resolve().parents[2]


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `infra/local/services.sh fetch`")
    return found


def alertmanager_binary() -> str:
    return shutil.which("prometheus-alertmanager") or binary("alertmanager")


def make_alert(sensor_id: str, **changes: Any) -> Alert:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "alert_id": 1,
        "rule": "anomaly-high",
        "sensor_id": sensor_id,
        "site": "it",
        "severity": "critical",
        "kind": "spike",
        "score": 9.5,
        "contributions": {"temperature": 4.0},
        "summary": f"spike on {sensor_id}",
        "started_at": now - timedelta(minutes=1),
        "updated_at": now,
    }
    fields.update(changes)
    return Alert.model_validate(fields)


def resolve(alert: Alert) -> Alert:
    now = datetime.now(UTC)
    return alert.model_copy(update={"state": "resolved", "resolved_at": now, "updated_at": now})


def am_alerts(base: str, sensor_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v2/alerts", params={"filter": f'sensor_id="{sensor_id}"'})
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()
    return alerts


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while (value := check()) is None or value is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {timeout_s} s")
        time.sleep(0.1)
    return value


def test_the_repo_config_is_valid() -> None:
    config = REPO / "infra" / "alertmanager" / "alertmanager.yml"
    check = subprocess.run(
        [binary("amtool"), "check-config", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_shared_alertmanager_takes_alerts_and_silences() -> None:
    require_server("Alertmanager", ALERTMANAGER)
    base = f"http://{ALERTMANAGER}"
    delivery = AlertmanagerDelivery(base, link_base="http://127.0.0.1:8002")
    alert = make_alert(f"it-{uuid.uuid4().hex[:8]}")
    try:
        delivery.notify([alert])
        (listed,) = wait_until(lambda: am_alerts(base, alert.sensor_id), 10, "the alert")
        assert listed["labels"]["alertname"] == "anomaly-high"
        assert listed["annotations"]["score"] == "9.5"
        assert listed["generatorURL"] == (f"http://127.0.0.1:8002/live?sensor={alert.sensor_id}")
        silence_id = delivery.silence(alert, author="it", comment="integration test")
        wait_until(
            lambda: am_alerts(base, alert.sensor_id)[0]["status"]["silencedBy"] == [silence_id],
            10,
            "the alert silenced",
        )
        delivery.expire_silence(silence_id)
        delivery.notify([resolve(alert)])
        # A resolved alert leaves the active list (it is kept only for the notification log).
        wait_until(lambda: am_alerts(base, alert.sensor_id) == [], 10, "the alert resolved")
    finally:
        delivery.close()


class OwnAlertmanager:
    """An Alertmanager of this test's own: its config has no `sensorguard-managed` marker, so
    services.sh never mistakes it for the shared one."""

    def __init__(self, workdir: Path, receiver_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "alertmanager.yml"
        # repeat_interval 1s: without a silence, a firing alert is re-sent every second or so,
        # which is what the silence has to stop.
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname, sensor_id]\n"
            "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1s\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {receiver_url}\n        send_resolved: true\n"
        )
        check = subprocess.run(
            [binary("amtool"), "check-config", str(self.config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = self.dir / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    alertmanager_binary(),
                    f"--config.file={self.config}",
                    f"--storage.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"alertmanager exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"alertmanager not ready in 20 s: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def own_alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[OwnAlertmanager]:
    am = OwnAlertmanager(tmp_path / "alertmanager", receiver.url)
    am.start()
    yield am
    am.stop()


def status_is(status: str, sensor_id: str) -> Any:
    def pred(body: Body) -> bool:
        return bool(body["status"] == status and body["groupLabels"]["sensor_id"] == sensor_id)

    return pred


def test_firing_silenced_and_resolved_notifications_reach_the_receiver(
    own_alertmanager: OwnAlertmanager, receiver: Receiver
) -> None:
    delivery = AlertmanagerDelivery(own_alertmanager.base, link_base="http://127.0.0.1:8002")
    alert = make_alert("th-017")
    try:
        delivery.notify([alert])
        firing = receiver.wait_for(status_is("firing", "th-017"), 15, "status firing")
        (sent,) = firing["alerts"]
        assert sent["labels"]["alertname"] == "anomaly-high"
        assert sent["annotations"]["summary"] == "spike on th-017"
        assert sent["annotations"]["top_contributions"] == "temperature=4"
        # Unsilenced, the receiver hears about it again (repeat_interval 1s)...
        receiver.clear()
        receiver.wait_for(status_is("firing", "th-017"), 10, "a repeated firing")

        silence_id = delivery.silence(alert, author="ana", comment="acknowledged")
        listed = wait_until(
            lambda: next(
                (
                    a
                    for a in am_alerts(own_alertmanager.base, "th-017")
                    if a["status"]["state"] == "suppressed"
                ),
                None,
            ),
            10,
            "the alert suppressed",
        )
        assert listed["status"]["silencedBy"] == [silence_id]
        time.sleep(1.5)  # a notification already on its way when the silence came
        receiver.clear()
        # ...silenced, it does not, though it is posted again and several intervals pass.
        delivery.notify([alert])
        time.sleep(4)
        assert receiver.bodies == []

        delivery.expire_silence(silence_id)
        delivery.notify([resolve(alert)])
        done = receiver.wait_for(status_is("resolved", "th-017"), 15, "status resolved")
        assert done["alerts"][0]["status"] == "resolved"
        assert done["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    finally:
        delivery.close()
