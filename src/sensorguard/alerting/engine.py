"""The alerting engine: scores, readings and a timer in; alert lifecycle changes out.

Rules are evaluated in event time (a reading's or score's ``ts``), so replaying stored data
(``sensorguard alerts dry-run``) raises the alerts the live stream would have. Deadman rules
are evaluated on a timer (:meth:`AlertEngine.tick`), since a silent sensor sends nothing to
react to. Alert state is in the database (:class:`~sensorguard.alerting.store.AlertStore`);
only the pending timers of conditions not yet long enough are in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sensorguard.alerting.actions import announce
from sensorguard.alerting.delivery import Delivery
from sensorguard.alerting.records import Alert
from sensorguard.alerting.rules import (
    AlertRule,
    AnomalyCondition,
    DeadmanCondition,
    ThresholdCondition,
)
from sensorguard.alerting.store import AlertStore
from sensorguard.schemas import Reading, Score, Sensor, utc_now
from sensorguard.validation import SensorCatalog

log = logging.getLogger(__name__)

Change = Literal["opened", "updated", "resolved"]


@dataclass(frozen=True)
class AlertChange:
    """An alert that was opened, updated by another trigger, or resolved by the engine."""

    alert: Alert
    change: Change


@dataclass
class _Watch:
    """In-memory timers of one (rule, sensor): since when the condition holds / has cleared."""

    pending_since: datetime | None = None
    clear_since: datetime | None = None


@dataclass
class AlertEngine:
    """Evaluates enabled rules for the sensors their selectors match."""

    rules: Sequence[AlertRule]
    store: AlertStore
    catalog: SensorCatalog
    delivery: Delivery | None = None
    clock: Callable[[], datetime] = utc_now
    actor: str = "engine"
    _watches: dict[tuple[str, str], _Watch] = field(default_factory=dict)
    _last_seen: dict[str, datetime] = field(default_factory=dict)
    _rules_of: dict[str, tuple[Sensor | None, list[AlertRule]]] = field(default_factory=dict)

    def _sensor_rules(self, sensor_id: str) -> tuple[Sensor | None, list[AlertRule]]:
        cached = self._rules_of.get(sensor_id)
        if cached is None:
            found = self.catalog.lookup(sensor_id)
            sensor = found[0] if found else None
            rules = [r for r in self.rules if r.enabled and sensor and r.selector.matches(sensor)]
            cached = self._rules_of[sensor_id] = (sensor, rules)
        return cached

    def _watch(self, rule: AlertRule, sensor_id: str) -> _Watch:
        return self._watches.setdefault((rule.name, sensor_id), _Watch())

    # ------------------------------------------------------------------ lifecycle steps

    def _fire(
        self,
        rule: AlertRule,
        sensor: Sensor,
        at: datetime,
        summary: str,
        *,
        score: float | None = None,
        kind: str = "",
        contributions: dict[str, float] | None = None,
    ) -> AlertChange:
        alert, opened = self.store.trigger(
            rule.name,
            sensor.sensor_id,
            site=sensor.site,
            severity=rule.severity,
            at=at,
            score=score,
            kind=kind,
            contributions=contributions,
            summary=summary,
            actor=self.actor,
        )
        if opened:
            log.info(
                "alert %s opened: %s on %s: %s",
                alert.alert_id,
                rule.name,
                sensor.sensor_id,
                summary,
            )
        return AlertChange(alert, "opened" if opened else "updated")

    def _clear(self, rule: AlertRule, sensor_id: str, reason: str) -> AlertChange | None:
        for alert in self.store.active(rule=rule.name, sensor_id=sensor_id):
            resolved = self.store.resolve(alert.alert_id, self.actor, reason=reason)
            log.info("alert %s resolved: %s", alert.alert_id, reason)
            return AlertChange(resolved, "resolved")
        return None

    def _held(self, watch: _Watch, at: datetime, needed_s: float) -> bool:
        """The condition holds at ``at``: has it held for ``needed_s``?"""
        watch.clear_since = None
        if watch.pending_since is None or at < watch.pending_since:
            watch.pending_since = at
        return (at - watch.pending_since).total_seconds() >= needed_s

    def _released(self, watch: _Watch, at: datetime, needed_s: float) -> bool:
        """The condition does not hold at ``at``: has it been clear for ``needed_s``?"""
        watch.pending_since = None
        if watch.clear_since is None or at < watch.clear_since:
            watch.clear_since = at
        return (at - watch.clear_since).total_seconds() >= needed_s

    # ------------------------------------------------------------------ inputs

    def on_scores(self, scores: Iterable[Score]) -> list[AlertChange]:
        """Anomaly rules over verdicts (in time order per sensor)."""
        changes: list[AlertChange] = []
        for s in sorted(scores, key=lambda s: (s.sensor_id, s.ts)):
            sensor, rules = self._sensor_rules(s.sensor_id)
            for rule in rules:
                cond = rule.condition
                if not isinstance(cond, AnomalyCondition) or sensor is None:
                    continue
                watch = self._watch(rule, s.sensor_id)
                if cond.matches(s.flag, s.kind or "flagged"):
                    if self._held(watch, s.ts, cond.min_duration_s):
                        lead = ", ".join(f"{k} {v:.0%}" for k, v in s.contributions.items())
                        summary = f"{s.kind or 'anomaly'} (score {s.score:.1f}; {lead or 'n/a'})"
                        changes.append(
                            self._fire(
                                rule,
                                sensor,
                                watch.pending_since or s.ts,
                                summary,
                                score=s.score,
                                kind=s.kind,
                                contributions=dict(s.contributions),
                            )
                        )
                elif self._released(watch, s.ts, cond.clear_after_s):
                    cleared = self._clear(
                        rule, s.sensor_id, f"no flag for {cond.clear_after_s:g} s"
                    )
                    if cleared:
                        changes.append(cleared)
        self._deliver(changes)
        return changes

    def on_readings(self, readings: Iterable[Reading]) -> list[AlertChange]:
        """Threshold rules over readings; every reading also answers its sensor's deadman."""
        changes: list[AlertChange] = []
        for r in sorted(readings, key=lambda r: (r.sensor_id, r.ts)):
            seen = self._last_seen.get(r.sensor_id)
            self._last_seen[r.sensor_id] = max(seen, r.ts) if seen else r.ts
            sensor, rules = self._sensor_rules(r.sensor_id)
            for rule in rules:
                cond = rule.condition
                if isinstance(cond, DeadmanCondition):
                    cleared = self._clear(rule, r.sensor_id, "the sensor reports again")
                    if cleared:
                        changes.append(cleared)
                    continue
                if not isinstance(cond, ThresholdCondition) or sensor is None:
                    continue
                value = r.channels.get(cond.channel)
                if value is None:
                    continue
                watch = self._watch(rule, r.sensor_id)
                if cond.breached(value):
                    if self._held(watch, r.ts, cond.for_s):
                        bound = (
                            cond.above
                            if cond.above is not None and value > cond.above
                            else cond.below
                        )
                        side = "above" if bound == cond.above else "below"
                        summary = (
                            f"{cond.channel} {value:g} {side} {bound:g} for at least "
                            f"{cond.for_s:g} s"
                        )
                        changes.append(
                            self._fire(
                                rule, sensor, watch.pending_since or r.ts, summary, score=value
                            )
                        )
                elif cond.cleared(value) and self._released(watch, r.ts, 0.0):
                    cleared = self._clear(
                        rule, r.sensor_id, f"{cond.channel} {value:g} back inside"
                    )
                    if cleared:
                        changes.append(cleared)
        self._deliver(changes)
        return changes

    def tick(
        self, now: datetime | None = None, sensors: Iterable[Sensor] = ()
    ) -> list[AlertChange]:
        """Deadman rules on a timer: a sensor silent longer than its rule allows is alerted.

        ``sensors`` adds sensors never seen since the engine started (silent from the start);
        their silence counts from the engine's first tick.
        """
        now = now or self.clock()
        for known in sensors:
            self._last_seen.setdefault(known.sensor_id, now)
        changes: list[AlertChange] = []
        for sensor_id, seen in self._last_seen.items():
            sensor, rules = self._sensor_rules(sensor_id)
            for rule in rules:
                cond = rule.condition
                if not isinstance(cond, DeadmanCondition) or sensor is None:
                    continue
                silent = now - seen
                if silent >= timedelta(minutes=cond.silent_minutes):
                    minutes = silent.total_seconds() / 60
                    changes.append(
                        self._fire(rule, sensor, seen, f"no reading for {minutes:.0f} min")
                    )
        self._deliver(changes)
        if self.delivery is not None:
            # Alertmanager resolves a firing alert it has not heard of for resolve_timeout:
            # every tick re-posts the active ones (receivers deduplicate).
            active = self.store.active()
            if active:
                self.delivery.notify(active)
        return changes

    def _deliver(self, changes: Sequence[AlertChange]) -> None:
        if self.delivery is None or not changes:
            return
        latest = {c.alert.alert_id: c.alert for c in changes}
        announce(self.delivery, list(latest.values()))
