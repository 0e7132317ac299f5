"""What acknowledging and resolving an alert do, for every caller (CLI, API, engine).

The database change and the delivery change go together: acknowledging silences the alert's
notifications; a resolution lifts that silence first, since a muted "resolved" never reaches
anyone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from sensorguard.alerting.delivery import Delivery
from sensorguard.alerting.records import Alert, Verdict
from sensorguard.alerting.store import AlertStore
from sensorguard.errors import NotFound, ValidationFailed


def announce(delivery: Delivery, alerts: Sequence[Alert]) -> None:
    """Notify alerts in their current state; resolved ones first lose their silence."""
    for alert in alerts:
        if alert.state == "resolved" and alert.silence_id:
            with contextlib.suppress(NotFound):
                delivery.expire_silence(alert.silence_id)
    if alerts:
        delivery.notify(alerts)


def acknowledge(
    store: AlertStore,
    delivery: Delivery,
    alert_id: int,
    actor: str,
    comment: str,
    verdict: Verdict | None = None,
) -> Alert:
    """An open alert becomes acknowledged and its notifications are silenced; a verdict
    (real fault, false alarm, maintenance) is stored as a label training reads."""
    alert = store.get(alert_id)
    if alert.state != "open":
        # Checked before silencing: a refused acknowledgement must leave no silence behind.
        raise ValidationFailed(f"alert {alert_id} state", alert.state, "open")
    silence = delivery.silence(alert, author=actor, comment=comment)
    return store.acknowledge(alert_id, actor, silence_id=silence, verdict=verdict)


def resolve(
    store: AlertStore,
    delivery: Delivery,
    alert_id: int,
    actor: str,
    reason: str,
    verdict: Verdict | None = None,
) -> Alert:
    """Resolve by hand: receivers hear 'resolved'; a verdict is stored as a label."""
    done = store.resolve(alert_id, actor, reason=reason, verdict=verdict)
    announce(delivery, [done])
    return done


def judge(store: AlertStore, alert_id: int, actor: str, verdict: Verdict) -> Alert:
    """A verdict on an alert already resolved (or still active, without acting on it):
    nothing is silenced or sent, the label is stored."""
    return store.judge(alert_id, actor, verdict)
