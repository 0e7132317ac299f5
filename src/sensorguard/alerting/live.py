"""The live feed: scores from the stream and alert events from the database, pushed to
WebSocket subscribers filtered by site and sensor.

One reader thread per app (not per subscriber) tails `anomaly-scores` (no consumer group, from
the end: the feed is a view, the scores are also in the store) and follows `alert_events` (any
process may write them: the engine, the CLI, this app). Each poll becomes at most one
:class:`LiveBatch` per subscriber. A subscriber that cannot keep up is not allowed to hold the
reader back or grow memory: its queue is bounded, batches that do not fit are dropped and the
next batch it gets says how many scores and events it missed (``dropped``), so a page can
reload what it lost from the REST routes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sensorguard.alerting.records import Alert, AlertEvent
from sensorguard.alerting.store import AlertStore
from sensorguard.schemas import Score
from sensorguard.stream import ANOMALY_SCORES, Stream
from sensorguard.stream.codec import decode_score

log = logging.getLogger(__name__)

QUEUE_BATCHES = 64
"""Batches a subscriber may have waiting (about 30 s of polls) before its oldest are dropped."""


class LiveScore(BaseModel):
    """A verdict as the feed shows it: the score with the sensor's site."""

    model_config = ConfigDict(frozen=True)

    sensor_id: str
    site: str
    ts: datetime
    score: float
    flag: bool
    threshold: float
    kind: str = ""
    contributions: dict[str, float] = Field(default_factory=dict)
    model_version: str = ""


_SCORE_FIELDS = set(LiveScore.model_fields) - {"site"}


class LiveAlertEvent(BaseModel):
    """An alert lifecycle step with the alert as it is after it."""

    model_config = ConfigDict(frozen=True)

    event: AlertEvent
    alert: Alert


class LiveBatch(BaseModel):
    """One WebSocket message: what arrived since the previous one."""

    scores: list[LiveScore] = Field(default_factory=list)
    alerts: list[LiveAlertEvent] = Field(default_factory=list)
    dropped: int = Field(0, description="scores and events this subscriber missed (too slow)")
    ready: bool = Field(False, description="the first message: the feed is following the stream")


@dataclass(frozen=True)
class LiveFilter:
    """Which sensors a subscriber wants; empty sets take everything."""

    sites: frozenset[str] = frozenset()
    sensors: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, site: str | None, sensor: str | None) -> LiveFilter:
        """From query values; each may list several, comma-separated."""

        def split(value: str | None) -> frozenset[str]:
            return frozenset(v.strip() for v in (value or "").split(",") if v.strip())

        return cls(split(site), split(sensor))

    def admits(self, sensor_id: str, site: str) -> bool:
        return (not self.sites or site in self.sites) and (
            not self.sensors or sensor_id in self.sensors
        )

    def select(self, batch: LiveBatch) -> LiveBatch:
        return LiveBatch(
            scores=[s for s in batch.scores if self.admits(s.sensor_id, s.site)],
            alerts=[a for a in batch.alerts if self.admits(a.alert.sensor_id, a.alert.site)],
        )


@dataclass
class Subscription:
    """One subscriber's bounded queue, fed from the reader thread through its event loop."""

    filter: LiveFilter
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LiveBatch] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_BATCHES)
    )
    dropped: int = 0
    ended: bool = False

    def end(self) -> None:
        """The reader failed: wake the subscriber with an empty batch it treats as the end."""
        self.ended = True
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(LiveBatch())

    def offer(self, batch: LiveBatch) -> None:
        """Runs on the subscriber's loop."""
        if self.queue.full():
            self.dropped += len(batch.scores) + len(batch.alerts)
            return
        if self.dropped:
            batch = batch.model_copy(update={"dropped": self.dropped})
            self.dropped = 0
        self.queue.put_nowait(batch)

    async def next(self) -> LiveBatch:
        return await self.queue.get()


class LiveHub:
    """Fans the stream and the alert events out to subscribers; the reader runs only while
    someone listens."""

    def __init__(
        self,
        open_stream: Callable[[], Stream],
        alerts: AlertStore,
        site_of: Callable[[str], str],
        *,
        poll_s: float = 0.5,
        max_records: int = 2000,
    ) -> None:
        self._open_stream = open_stream
        self._alerts = alerts
        self._site_of = site_of
        self._poll_s = poll_s
        self._max_records = max_records
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.undecodable = 0

    def subscribe(self, live_filter: LiveFilter) -> Subscription:
        """Called on the subscriber's event loop; returns once the reader is at the end of the
        stream, so anything published after this call reaches the subscriber."""
        sub = Subscription(live_filter, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.append(sub)
            if self._thread is None:
                self._stop.clear()
                self._ready.clear()
                self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
                self._thread.start()
        return sub

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        return self._ready.wait(timeout_s)

    def unsubscribe(self, sub: Subscription) -> None:
        """The reader notices the last one leaving and stops (see `_listened`)."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    # ------------------------------------------------------------------ the reader thread

    def _run(self) -> None:
        stream = self._open_stream()
        try:
            tail = stream.tail([ANOMALY_SCORES])
            try:
                last_event = self._alerts.last_event_id()
                self._ready.set()
                while self._listened():
                    records = tail.poll(self._max_records, self._poll_s)
                    events = self._alerts.events_after(last_event)
                    if events:
                        last_event = events[-1][0].event_id
                    batch = LiveBatch(
                        scores=self._scores(r.value for r in records),
                        alerts=[LiveAlertEvent(event=e, alert=a) for e, a in events],
                    )
                    if batch.scores or batch.alerts:
                        self._fan_out(batch)
            finally:
                tail.close()
        except Exception:
            # The feed is a view: log and let the next subscriber start a fresh reader.
            log.exception("live feed reader stopped")
        finally:
            self._ready.set()
            stream.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
                    # Its subscribers would wait forever: end them, they reconnect.
                    for sub in self._subscribers:
                        sub.loop.call_soon_threadsafe(sub.end)
                    self._subscribers.clear()

    def _listened(self) -> bool:
        """Go on? Decided under the lock that `subscribe` takes, so a subscriber arriving as
        the last one leaves either keeps this reader or starts the next one."""
        with self._lock:
            if self._stop.is_set() or not self._subscribers:
                self._thread = None
                return False
            return True

    def _scores(self, values: Iterable[bytes]) -> list[LiveScore]:
        out = []
        for value in values:
            try:
                score: Score = decode_score(value)
            except ValidationError:
                self.undecodable += 1
                continue
            shown = score.model_dump(include=_SCORE_FIELDS)
            out.append(LiveScore(**shown, site=self._site_of(score.sensor_id)))
        return out

    def _fan_out(self, batch: LiveBatch) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            mine = sub.filter.select(batch)
            if mine.scores or mine.alerts:
                try:
                    sub.loop.call_soon_threadsafe(sub.offer, mine)
                except RuntimeError:  # its loop is closed: the socket is gone
                    self.unsubscribe(sub)
