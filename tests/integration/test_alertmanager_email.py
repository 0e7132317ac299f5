"""E-mail through the shared Alertmanager (127.0.0.1:9094) to a real local SMTP server.

infra/alertmanager/alertmanager.yml routes critical alerts to its `sensorguard-email` receiver,
whose smarthost is 127.0.0.1:2525; this test runs an aiosmtpd server there, so what arrives is
what Alertmanager really sent, rendered by infra/alertmanager/sensorguard.tmpl. Unique rule and
sensor names keep it apart from tests/integration/test_alertmanager.py and from whatever else
the shared server holds.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from sensorguard.alerting.delivery import AlertmanagerDelivery
from sensorguard.alerting.records import Alert
from servers import require_server

pytestmark = pytest.mark.integration

ALERTMANAGER = os.environ.get("SENSORGUARD_TEST_ALERTMANAGER", "127.0.0.1:9094")
# The smarthost of the sensorguard-email receiver in infra/alertmanager/alertmanager.yml.
SMTP_HOST, SMTP_PORT = "127.0.0.1", 2525
RECIPIENT = "oncall@example.com"
LINK_BASE = "http://127.0.0.1:8002"
# group_wait is 5 s, so a first e-mail comes in ~5 s; a resolved one at the group's next flush,
# group_interval (30 s) after the first. Bounds, with room for a slow machine.
FIRST_MAIL_S = 30
RESOLVED_MAIL_S = 60


@dataclass(frozen=True)
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, f"no text/plain part in {self.message.as_string()[:500]}"
        return str(part.get_content())


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._changed = threading.Condition()

    # aiosmtpd finds its hooks by these names.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
        with self._changed:
            self.mails.append(Mail(list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 OK"

    def about(self, sensor_id: str) -> list[Mail]:
        with self._changed:
            return [m for m in self.mails if sensor_id in m.subject]

    def wait_for(self, check: Callable[[Mail], bool], timeout_s: float, what: str) -> Mail:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (found := next((m for m in self.mails if check(m)), None)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [m.subject for m in self.mails]
                    raise AssertionError(
                        f"{what}: no such e-mail within {timeout_s} s; received: {subjects}"
                    )
                self._changed.wait(left)
            return found


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname=SMTP_HOST, port=SMTP_PORT)
    try:
        controller.start()
    except OSError as err:
        busy: OSError | None = err
    else:
        busy = None
    if busy is not None:  # failed outside the except block: the message, not asyncio's traceback
        pytest.fail(
            f"cannot run the test SMTP server on {SMTP_HOST}:{SMTP_PORT} ({busy}): the "
            "sensorguard-email receiver of infra/alertmanager/alertmanager.yml sends there, so "
            "the port must be free; stop whatever holds it (`ss -ltnp 'sport = :2525'`)"
        )
    yield handler
    controller.stop()


def require_email_route(base: str) -> None:
    """The shared server must run the repo's config (one with the e-mail receiver)."""
    config = httpx.get(f"{base}/api/v2/status", timeout=5).json()["config"]["original"]
    if "sensorguard-email" not in config:
        pytest.fail(
            f"the Alertmanager at {base} has no sensorguard-email receiver: it runs an older "
            "config; reload it with `curl -X POST http://127.0.0.1:9094/-/reload`"
        )


def make_alert(rule: str, sensor_id: str, severity: str) -> Alert:
    now = datetime.now(UTC)
    return Alert.model_validate(
        {
            "alert_id": 7,
            "rule": rule,
            "sensor_id": sensor_id,
            "site": "plant-north",
            "severity": severity,
            "kind": "level_shift",
            "score": 12.25,
            "contributions": {"temperature": 5.5, "humidity": -2.25, "pressure": 0.5},
            "summary": f"level shift on {sensor_id}",
            "started_at": now - timedelta(minutes=2),
            "updated_at": now,
        }
    )


def resolve(alert: Alert) -> Alert:
    now = datetime.now(UTC)
    return alert.model_copy(update={"state": "resolved", "resolved_at": now, "updated_at": now})


def receivers_of(base: str, sensor_id: str) -> list[str]:
    answer = httpx.get(f"{base}/api/v2/alerts", params={"filter": f'sensor_id="{sensor_id}"'})
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()
    return sorted(r["name"] for a in alerts for r in a["receivers"])


def test_critical_alert_is_mailed_firing_then_resolved_and_warning_is_not(
    inbox: Inbox,
) -> None:
    require_server("Alertmanager", ALERTMANAGER)
    base = f"http://{ALERTMANAGER}"
    require_email_route(base)
    run = uuid.uuid4().hex[:8]
    rule = f"email-it-{run}"
    critical = make_alert(rule, f"th-{run}-c", "critical")
    warning = make_alert(rule, f"th-{run}-w", "warning")
    delivery = AlertmanagerDelivery(base, link_base=LINK_BASE)
    resolved = False
    try:
        delivery.notify([critical, warning])
        # Routing as the config says: e-mail for critical only, the webhook for both.
        assert receivers_of(base, critical.sensor_id) == [
            "sensorguard-email",
            "sensorguard-webhook",
        ]
        assert receivers_of(base, warning.sensor_id) == ["sensorguard-webhook"]

        firing = inbox.wait_for(
            lambda m: m.subject.startswith("[FIRING]") and critical.sensor_id in m.subject,
            FIRST_MAIL_S,
            "the firing e-mail",
        )
        assert firing.rcpt_tos == [RECIPIENT]
        assert firing.message["To"] == RECIPIENT
        assert firing.subject == (
            f"[FIRING] {rule} on {critical.sensor_id} at plant-north (critical)"
        )
        body = firing.body
        for expected in (
            f"level shift on {critical.sensor_id}",
            f"Rule:              {rule} (critical)",
            f"Sensor:            {critical.sensor_id}",
            "Site:              plant-north",
            "Kind:              level_shift",
            "Score:             12.25",
            "Top contributions: temperature=5.5, humidity=-2.25, pressure=0.5",
            f"Started:           {critical.started_at.isoformat()}",
            f"Recent scores:     {LINK_BASE}/live?sensor={critical.sensor_id}",
            "sensorguard alerts ack ID",
        ):
            assert expected in body, f"{expected!r} not in the e-mail body:\n{body}"

        delivery.notify([resolve(critical), resolve(warning)])
        resolved = True
        done = inbox.wait_for(
            lambda m: m.subject.startswith("[RESOLVED]") and critical.sensor_id in m.subject,
            RESOLVED_MAIL_S,
            "the resolved e-mail",
        )
        assert "Resolved:          " in done.body
        assert "ack ID" not in done.body  # nothing left to acknowledge
        # By now the warning alert's group has long been flushed (group_wait 5 s): had it been
        # routed to e-mail, its message would be here.
        assert inbox.about(warning.sensor_id) == []
        assert len(inbox.about(critical.sensor_id)) == 2
    finally:
        if not resolved:  # leave nothing firing on the shared server, whatever failed above
            delivery.notify([resolve(critical), resolve(warning)])
        delivery.close()
