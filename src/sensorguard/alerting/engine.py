"""The alerting engine: scores, readings, dead letters and a timer in; alert lifecycle out.

Rules are evaluated in event time (a reading's or score's ``ts``, a dead letter's
``received_at``), so replaying stored data (``sensorguard alerts dry-run``) raises the alerts
the live stream would have. Deadman and consumer-lag rules are evaluated on a timer
(:meth:`AlertEngine.tick`): a silent sensor sends nothing to react to, and lag is a property
of the stream, not of a message. Windowed rules (data quality, model quality) count events in
a sliding window and are judged once per input batch, at the window's end: judging after every
message would see half of a batch, which arrives sorted by sensor, not by time. Alert state is
in the database (:class:`~sensorguard.alerting.store.AlertStore`); only pending timers and
window counts are in memory.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal, Protocol

from sensorguard.alerting.actions import announce
from sensorguard.alerting.delivery import Delivery
from sensorguard.alerting.records import Alert, subject_id
from sensorguard.alerting.rules import (
    AlertRule,
    AnomalyCondition,
    ConsumerLagCondition,
    DataQualityCondition,
    DeadmanCondition,
    ModelQualityCondition,
    ThresholdCondition,
)
from sensorguard.alerting.store import AlertStore
from sensorguard.errors import BackendUnavailable, NotFound
from sensorguard.schemas import Reading, Score, Sensor, utc_now
from sensorguard.specs import registered_model_name
from sensorguard.stream.codec import DeadLetter
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


# Window resolution: memory per window is bounded whatever the message rate, and the window's
# start is exact to 1/120 of its length (5 s of a 10-minute window).
_BUCKETS_PER_WINDOW = 120
_SECONDS_PER_DAY = 86_400.0


@dataclass
class _SlidingCounts:
    """Counts of ``(what, detail)`` events over a sliding event-time window ending at the
    latest event seen (``end``): events may arrive out of order within the window, and one
    older than the window is dropped."""

    window_s: float
    end: datetime | None = None
    first: datetime | None = None  # the earliest event counted, ever: how much is covered
    _buckets: deque[tuple[int, Counter[tuple[str, str]]]] = field(default_factory=deque)
    _total: Counter[tuple[str, str]] = field(default_factory=Counter)

    def _bucket(self, at: datetime) -> int:
        return math.floor(at.timestamp() * _BUCKETS_PER_WINDOW / self.window_s)

    def add(self, at: datetime, what: str, detail: str = "") -> None:
        index = self._bucket(at)
        if self.end is not None and index < self._horizon(self.end):
            return
        counts: Counter[tuple[str, str]] | None = None
        if not self._buckets or self._buckets[-1][0] < index:  # in order: the usual case
            self._buckets.append((index, counts := Counter()))
        else:
            counts = next((c for i, c in reversed(self._buckets) if i == index), None)
            if counts is None:  # late, into a bucket nothing else fell in: rare, short scan
                later = sum(i > index for i, _ in self._buckets)
                self._buckets.insert(len(self._buckets) - later, (index, counts := Counter()))
        counts[(what, detail)] += 1
        self._total[(what, detail)] += 1
        if self.first is None or at < self.first:
            self.first = at
        if self.end is None or at > self.end:
            self.end = at
            horizon = self._horizon(at)
            while self._buckets and self._buckets[0][0] < horizon:
                self._total -= self._buckets.popleft()[1]

    def _horizon(self, end: datetime) -> int:
        """The first bucket still (partly) inside the window ending at ``end``."""
        return self._bucket(end - timedelta(seconds=self.window_s))

    def count(self, what: str) -> int:
        return sum(n for (w, _), n in self._total.items() if w == what)

    def details(self, what: str) -> Counter[str]:
        return Counter({d: n for (w, d), n in self._total.items() if w == what and n > 0})

    @property
    def covered_s(self) -> float:
        """How much of the window has data behind it (less than the window after a start)."""
        if self.end is None or self.first is None:
            return 0.0
        return min(self.window_s, (self.end - self.first).total_seconds())


class LagSource(Protocol):
    """What consumer-lag rules read on the timer (every :class:`~sensorguard.stream.Stream`)."""

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]: ...


def _aware(moment: datetime) -> datetime:
    # A dead letter from an old or foreign producer may carry a naive time; ours are UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    _windows: dict[tuple[str, str], _SlidingCounts] = field(default_factory=dict)
    _flagged: dict[str, bool] = field(default_factory=dict)  # each sensor's last verdict
    _reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # (sensor, field): last
    _unrated: set[str] = field(default_factory=set)  # model-quality rules without a rate

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

    def _window(self, rule: AlertRule, subject: str, window_s: float) -> _SlidingCounts:
        return self._windows.setdefault((rule.name, subject), _SlidingCounts(window_s))

    # ------------------------------------------------------------------ lifecycle steps

    def _fire(
        self,
        rule: AlertRule,
        sensor_id: str,
        site: str,
        at: datetime,
        summary: str,
        *,
        score: float | None = None,
        kind: str = "",
        contributions: dict[str, float] | None = None,
    ) -> AlertChange:
        alert, opened = self.store.trigger(
            rule.name,
            sensor_id,
            site=site,
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
                sensor_id,
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

    def _judge(
        self,
        rule: AlertRule,
        subject: str,
        at: datetime,
        *,
        breached: bool,
        cleared: bool,
        for_s: float,
        fire: Callable[[datetime], AlertChange],
        reason: str,
        clear_after_s: float = 0.0,
    ) -> AlertChange | None:
        """One observation of a rule's condition: fire (``fire(since)``) once it has held for
        ``for_s``, resolve once it has been cleared for ``clear_after_s``. Neither breached
        nor cleared (inside a hysteresis band) changes nothing."""
        watch = self._watch(rule, subject)
        if breached:
            return fire(watch.pending_since or at) if self._held(watch, at, for_s) else None
        if cleared and self._released(watch, at, clear_after_s):
            return self._clear(rule, subject, reason)
        return None

    # ------------------------------------------------------------------ inputs

    def on_scores(self, scores: Iterable[Score]) -> list[AlertChange]:
        """Anomaly rules over verdicts (in time order per sensor), and model-quality rules
        over each group's fault episodes (judged after the batch)."""
        changes: list[AlertChange] = []
        groups: dict[str, tuple[AlertRule, ModelQualityCondition]] = {}
        for s in sorted(scores, key=lambda s: (s.sensor_id, s.ts)):
            # An episode starts at a flag after an unflagged verdict (as episode_onsets says).
            onset = s.flag and not self._flagged.get(s.sensor_id, False)
            self._flagged[s.sensor_id] = s.flag
            sensor, rules = self._sensor_rules(s.sensor_id)
            for rule in rules:
                cond = rule.condition
                if sensor is None:
                    continue
                if isinstance(cond, ModelQualityCondition):
                    if s.model == registered_model_name(cond.group):
                        window = self._window(rule, _group_subject(cond), cond.window_s)
                        window.add(s.ts, "scored", s.sensor_id)
                        if onset:
                            window.add(s.ts, "onset", s.sensor_id)
                        groups[rule.name] = (rule, cond)
                    continue
                if not isinstance(cond, AnomalyCondition):
                    continue
                change = self._judge(
                    rule,
                    s.sensor_id,
                    s.ts,
                    breached=cond.matches(s.flag, s.kind or "flagged"),
                    cleared=True,
                    for_s=cond.min_duration_s,
                    clear_after_s=cond.clear_after_s,
                    fire=partial(self._fire_anomaly, rule, sensor, s),
                    reason=f"no flag for {cond.clear_after_s:g} s",
                )
                if change:
                    changes.append(change)
        for rule, cond in groups.values():
            change = self._judge_model_quality(rule, cond)
            if change:
                changes.append(change)
        self._deliver(changes)
        return changes

    def _fire_anomaly(
        self, rule: AlertRule, sensor: Sensor, s: Score, since: datetime
    ) -> AlertChange:
        lead = ", ".join(f"{k} {v:.0%}" for k, v in s.contributions.items())
        return self._fire(
            rule,
            sensor.sensor_id,
            sensor.site,
            since,
            f"{s.kind or 'anomaly'} (score {s.score:.1f}; {lead or 'n/a'})",
            score=s.score,
            kind=s.kind,
            contributions=dict(s.contributions),
        )

    def _judge_model_quality(
        self, rule: AlertRule, cond: ModelQualityCondition
    ) -> AlertChange | None:
        expected = cond.expected_false_alarms_per_sensor_day
        if expected is None:
            if rule.name not in self._unrated:
                self._unrated.add(rule.name)
                log.warning(
                    "rule %s: no expected false-alarm rate for group %s (the champion's was "
                    "not read at start); the rule is not evaluated",
                    rule.name,
                    cond.group,
                )
            return None
        subject = _group_subject(cond)
        window = self._windows[(rule.name, subject)]
        scored = window.details("scored")
        sensor_days = len(scored) * window.covered_s / _SECONDS_PER_DAY
        if window.end is None or sensor_days < cond.min_sensor_days:
            return None  # too little to tell a bad day from a bad model
        onsets = window.details("onset")
        rate = sum(onsets.values()) / sensor_days
        ratio = rate / expected

        def fire(since: datetime) -> AlertChange:
            most = ", ".join(f"{sid} {n}" for sid, n in onsets.most_common(3))
            summary = (
                f"{sum(onsets.values())} fault episodes over {sensor_days:.3g} sensor-days "
                f"({rate:.3g}/sensor-day, {ratio:.1f}x the expected {expected:.3g}; limit "
                f"{cond.max_ratio:g}x); most on {most or 'n/a'}"
            )
            return self._fire(rule, subject, "", since, summary, score=ratio)

        return self._judge(
            rule,
            subject,
            window.end,
            breached=cond.breached(ratio),
            cleared=cond.cleared(ratio),
            for_s=cond.for_s,
            fire=fire,
            reason=f"episode rate back to {ratio:.1f}x the expected",
        )

    def on_readings(self, readings: Iterable[Reading]) -> list[AlertChange]:
        """Threshold rules over readings; every reading also answers its sensor's deadman and
        counts as accepted for its data-quality rules (judged after the batch)."""
        changes: list[AlertChange] = []
        quality: dict[tuple[str, str], tuple[AlertRule, DataQualityCondition, Sensor]] = {}
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
                if sensor is None:
                    continue
                if isinstance(cond, DataQualityCondition):
                    self._window(rule, r.sensor_id, cond.window_s).add(r.ts, "accepted")
                    quality[(rule.name, r.sensor_id)] = (rule, cond, sensor)
                    continue
                if not isinstance(cond, ThresholdCondition):
                    continue
                value = r.channels.get(cond.channel)
                if value is None:
                    continue
                change = self._judge(
                    rule,
                    r.sensor_id,
                    r.ts,
                    breached=cond.breached(value),
                    cleared=cond.cleared(value),
                    for_s=cond.for_s,
                    fire=partial(self._fire_threshold, rule, cond, sensor, value),
                    reason=f"{cond.channel} {value:g} back inside",
                )
                if change:
                    changes.append(change)
        changes += self._judge_data_quality(quality.values())
        self._deliver(changes)
        return changes

    def _fire_threshold(
        self,
        rule: AlertRule,
        cond: ThresholdCondition,
        sensor: Sensor,
        value: float,
        since: datetime,
    ) -> AlertChange:
        bound = cond.above if cond.above is not None and value > cond.above else cond.below
        side = "above" if bound == cond.above else "below"
        summary = f"{cond.channel} {value:g} {side} {bound:g} for at least {cond.for_s:g} s"
        return self._fire(rule, sensor.sensor_id, sensor.site, since, summary, score=value)

    def on_dead_letters(self, letters: Iterable[DeadLetter]) -> list[AlertChange]:
        """Data-quality rules over refused messages, each counted for the sensor it names.

        A letter names its sensor (``sensor_id``) when validation got as far as reading it; a
        payload that did not parse names none and cannot be attributed: it is skipped here
        (the runner counts it). A letter naming an unregistered sensor matches no selector.
        """
        quality: dict[tuple[str, str], tuple[AlertRule, DataQualityCondition, Sensor]] = {}
        for letter in letters:
            if letter.sensor_id is None:
                continue
            sensor, rules = self._sensor_rules(letter.sensor_id)
            for rule in rules:
                cond = rule.condition
                if not isinstance(cond, DataQualityCondition) or sensor is None:
                    continue
                window = self._window(rule, letter.sensor_id, cond.window_s)
                window.add(_aware(letter.received_at), "rejected", letter.field)
                self._reasons[(letter.sensor_id, letter.field)] = letter.reason
                quality[(rule.name, letter.sensor_id)] = (rule, cond, sensor)
        changes = self._judge_data_quality(quality.values())
        self._deliver(changes)
        return changes

    def _judge_data_quality(
        self, touched: Iterable[tuple[AlertRule, DataQualityCondition, Sensor]]
    ) -> list[AlertChange]:
        changes: list[AlertChange] = []
        for rule, cond, sensor in touched:
            window = self._windows[(rule.name, sensor.sensor_id)]
            accepted, refused = window.count("accepted"), window.details("rejected")
            total = accepted + sum(refused.values())
            if window.end is None or total < cond.min_messages:
                continue  # too few messages for a ratio to mean anything
            ratio = sum(refused.values()) / total
            change = self._judge(
                rule,
                sensor.sensor_id,
                window.end,
                breached=cond.breached(ratio),
                cleared=cond.cleared(ratio),
                for_s=cond.for_s,
                fire=partial(self._fire_data_quality, rule, cond, sensor, accepted, refused),
                reason=f"{ratio:.0%} of messages rejected",
            )
            if change:
                changes.append(change)
        return changes

    def _fire_data_quality(
        self,
        rule: AlertRule,
        cond: DataQualityCondition,
        sensor: Sensor,
        accepted: int,
        refused: Counter[str],
        since: datetime,
    ) -> AlertChange:
        rejected = sum(refused.values())
        ratio = rejected / (accepted + rejected)
        top, n = refused.most_common(1)[0]
        example = self._reasons.get((sensor.sensor_id, top), "")
        summary = (
            f"{ratio:.0%} of messages rejected in {cond.window_s:g} s ({rejected} rejected, "
            f"{accepted} accepted; limit {cond.max_rejected_ratio:.0%}); most often {top} "
            f"({n}): {example}"
        )
        return self._fire(rule, sensor.sensor_id, sensor.site, since, summary, score=ratio)

    def tick(
        self,
        now: datetime | None = None,
        sensors: Iterable[Sensor] = (),
        lags: LagSource | None = None,
    ) -> list[AlertChange]:
        """Deadman and consumer-lag rules on a timer.

        A sensor silent longer than its rule allows is alerted; ``sensors`` adds sensors never
        seen since the engine started (silent from the start), whose silence counts from the
        engine's first tick. Consumer-lag rules read ``lags`` (the stream); without one, as in
        a dry run, they are not evaluated.
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
                        self._fire(
                            rule, sensor_id, sensor.site, seen, f"no reading for {minutes:.0f} min"
                        )
                    )
        if lags is not None:
            changes += self._judge_lags(lags, now)
        self._deliver(changes)
        if self.delivery is not None:
            # Alertmanager resolves a firing alert it has not heard of for resolve_timeout:
            # every tick re-posts the active ones (receivers deduplicate).
            active = self.store.active()
            if active:
                self.delivery.notify(active)
        return changes

    def _judge_lags(self, lags: LagSource, now: datetime) -> list[AlertChange]:
        changes: list[AlertChange] = []
        for rule in self.rules:
            cond = rule.condition
            if not rule.enabled or not isinstance(cond, ConsumerLagCondition):
                continue
            try:
                behind = lags.lag(cond.group, cond.topics)
            except (BackendUnavailable, NotFound) as err:
                # Unknown is neither breached nor cleared: the alert stays as it was.
                log.warning(
                    "rule %s: lag of consumer group %s unknown: %s", rule.name, cond.group, err
                )
                continue
            total = sum(behind.values())
            change = self._judge(
                rule,
                subject_id("consumer-group", cond.group),
                now,
                breached=total > cond.max_records,
                cleared=total <= cond.max_records,
                for_s=cond.for_s,
                fire=partial(self._fire_lag, rule, cond, behind),
                reason=f"{total:,} records behind, at most {cond.max_records:,}",
            )
            if change:
                changes.append(change)
        return changes

    def _fire_lag(
        self,
        rule: AlertRule,
        cond: ConsumerLagCondition,
        behind: Mapping[tuple[str, int], int],
        since: datetime,
    ) -> AlertChange:
        total = sum(behind.values())
        (topic, partition), most = max(behind.items(), key=lambda kv: kv[1])
        summary = (
            f"consumer group {cond.group} is {total:,} records behind on "
            f"{', '.join(cond.topics)} (limit {cond.max_records:,}); most on "
            f"{topic}[{partition}]: {most:,}"
        )
        subject = subject_id("consumer-group", cond.group)
        return self._fire(rule, subject, "", since, summary, score=float(total))

    def _deliver(self, changes: Sequence[AlertChange]) -> None:
        if self.delivery is None or not changes:
            return
        latest = {c.alert.alert_id: c.alert for c in changes}
        announce(self.delivery, list(latest.values()))


def _group_subject(cond: ModelQualityCondition) -> str:
    return subject_id("model-group", cond.group)
