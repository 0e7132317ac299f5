"""The MQTT front door: a bridge from `sensors/<site>/<sensor_id>` into the ingest pipeline.

Delivery is at least once end to end. The bridge subscribes with QoS 1 under a stable client id
and a persistent session, and acknowledges a message (manual PUBACK) only after the pipeline has
published it durably, so a message the bridge never finished is redelivered by the broker after
a crash, a restart or a reconnect. Replays are harmless downstream: (sensor_id, ts) is a
reading's identity.

Flow control never drops: unacknowledged messages count against the broker's in-flight window
(mosquitto's max_inflight_messages), so a slow bridge makes the broker hold further messages;
the local buffer between the network thread and the publisher is bounded and blocks the network
thread when full.

One sensor cannot stall the others, so nothing waits on one sensor. A message over the ingest
limits (`ingest_max_batch` rows, and bytes in proportion: sensorguard.ingest.limits) is
dead-lettered whole with the limit it broke. A sensor over its rate has the readings beyond its
token bucket dead-lettered with reason "rate limited". Deferring them instead would keep them
unacknowledged, and the broker's in-flight window is shared by every sensor of this one
session: a flooding sensor would fill it and hold up the fleet again. The dead-letter topic is
durable and replayable, so excess readings are kept, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from sensorguard import metrics
from sensorguard.errors import BackendUnavailable, ConfigError, SensorGuardError, ValidationFailed
from sensorguard.ingest.limits import BatchLimits
from sensorguard.ingest.pipeline import retry_delays
from sensorguard.ingest.ratelimit import TokenBuckets
from sensorguard.schemas import Rejection, is_sensor_id
from sensorguard.stream import SENSOR_DATA_DLQ, Message
from sensorguard.stream.codec import DEAD_LETTER_RAW_CHARS, dead_letter, parse_json
from sensorguard.validation import rejection
from sensorguard.wiring import redact_url

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from sensorguard.ingest.pipeline import IngestPipeline
    from sensorguard.monitoring import SystemMetricsPublisher
    from sensorguard.settings import Settings
    from sensorguard.simulate import Simulation

log = logging.getLogger(__name__)

TOPIC_ROOT = "sensors"
TOPIC_FILTER = f"{TOPIC_ROOT}/+/+"
_TOPIC = re.compile(rf"^{TOPIC_ROOT}/([^/]+)/([^/]+)$")
_KEEPALIVE_S = 30
_MAX_CHUNK = 500


@dataclass(frozen=True)
class MqttURL:
    """What an mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT] URL says (mqtts: TLS, port 8883)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttURL:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        try:
            port = (8883 if tls else 1883) if parts.port is None else parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in ("mqtt", "mqtts")
            or not parts.hostname
            or port < 1
            or parts.path not in ("", "/")
        ):
            raise ConfigError(
                "SENSORGUARD_MQTT_URL must be mqtt://[USER[:PASSWORD]@]HOST[:PORT] "
                f"(or mqtts:// for TLS), got {redact_url(url)!r}"
            )
        return cls(
            parts.hostname,
            port,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            tls,
        )

    @property
    def where(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def sensor_topic(site: str, sensor_id: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{sensor_id}"


def client_credentials(url: MqttURL, settings: Settings | None) -> tuple[str, str | None] | None:
    """(user, password) the bridge logs in with: SENSORGUARD_MQTT_USERNAME/_PASSWORD(_FILE) if
    set, else the URL's user, else None (anonymous, which a broker with an ACL refuses)."""
    if settings is not None and settings.mqtt_username:
        return settings.mqtt_username, settings.mqtt_password.get_secret_value() or None
    if url.username:
        return url.username, url.password
    return None


def tls_options(url: MqttURL, settings: Settings | None) -> dict[str, str | None] | None:
    """The `tls_set` arguments: TLS is on for mqtts:// or when a CA file is set."""
    ca = settings.mqtt_tls_ca_file if settings is not None else None
    if not url.tls and ca is None:
        if settings is not None and settings.mqtt_tls_cert_file is not None:
            raise ConfigError(
                "SENSORGUARD_MQTT_TLS_CERT_FILE needs TLS: an mqtts:// URL or "
                "SENSORGUARD_MQTT_TLS_CA_FILE"
            )
        return None
    cert = settings.mqtt_tls_cert_file if settings is not None else None
    key = settings.mqtt_tls_key_file if settings is not None else None
    return {
        # None: the system's trusted CAs.
        "ca_certs": None if ca is None else str(ca),
        "certfile": None if cert is None else str(cert),
        "keyfile": None if key is None else str(key),
    }


def _new_client(
    url: MqttURL,
    client_id: str,
    *,
    clean_session: bool,
    manual_ack: bool,
    settings: Settings | None = None,
    credentials: tuple[str, str | None] | None = None,
) -> mqtt.Client:
    """A paho client; `credentials` default to the URL's, TLS options come from `settings`."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    login = credentials or ((url.username, url.password) if url.username else None)
    if login is not None:
        client.username_pw_set(*login)
    tls = tls_options(url, settings)
    if tls is not None:
        client.tls_set(ca_certs=tls["ca_certs"], certfile=tls["certfile"], keyfile=tls["keyfile"])
    # Exponential backoff between reconnect attempts, 1 s doubling up to 30 s.
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes  # of an oversized message, only its start: it is dead-lettered, not parsed
    size: int  # of the whole payload, in bytes
    mid: int
    qos: int
    generation: int  # which connection delivered it: a PUBACK is only valid on that one

    @property
    def text(self) -> str:
        """The payload as text, for a dead letter (undecodable bytes replaced)."""
        return self.payload.decode("utf-8", "replace")


@dataclass
class _Split:
    """One chunk taken apart: rows for the pipeline per topic, and what is refused before it."""

    by_topic: dict[str, list[Any]] = field(default_factory=dict)
    letters: list[Message] = field(default_factory=list)
    rows: int = 0
    malformed: int = 0
    mismatched: int = 0
    oversized: int = 0
    rate_limited: int = 0

    def reject(self, source: str, raw: Any, index: int, problem: ValidationFailed) -> None:
        self.refuse(source, raw, rejection(index, problem))

    def refuse(self, source: str, raw: Any, why: Rejection) -> None:
        self.letters.append((why.sensor_id, dead_letter(source, raw, why)))


@dataclass
class BridgeStats:
    """What the bridge has done so far (read from other threads; counters only grow)."""

    messages: int = 0  # acknowledged to the broker
    readings: int = 0  # rows in those messages
    accepted: int = 0
    rejected: int = 0  # refused by validation, limits or rate, malformed, mismatched: all DLQ'd
    malformed: int = 0
    mismatched: int = 0
    oversized: int = 0  # messages over the row or byte limit
    rate_limited: int = 0  # readings over their sensor's rate
    connects: int = 0
    publish_retries: int = 0


class MqttBridge:
    """Subscribes to `sensors/+/+` and feeds every message through IngestPipeline.submit."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        url: str,
        *,
        client_id: str,
        settings: Settings,
        clean_session: bool = False,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.pipeline = pipeline
        self.url = MqttURL.parse(url)
        self.client_id = client_id
        self.clean_session = clean_session
        self.connect_timeout_s = connect_timeout_s
        self.stats = BridgeStats()
        self._rate = settings.rate_limit_per_sensor
        self._per_sensor = TokenBuckets.per_second(self._rate, settings.rate_limit_burst_s)
        self._limits = BatchLimits.of(settings)
        self._settings = settings
        self._inbox: queue.Queue[_Inbound] = queue.Queue(maxsize=settings.mqtt_buffer)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._generation = 0
        self._client: mqtt.Client | None = None
        self._worker: threading.Thread | None = None
        self._progress = threading.Condition()
        self._failure: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> MqttBridge:
        """Connect, subscribe and start publishing; BackendUnavailable if the broker is unreachable."""
        client = _new_client(
            self.url,
            self.client_id,
            clean_session=self.clean_session,
            manual_ack=True,
            settings=self._settings,
            credentials=client_credentials(self.url, self._settings),
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(self.url.host, self.url.port, keepalive=_KEEPALIVE_S)
        client.loop_start()
        if not self._subscribed.wait(self.connect_timeout_s):
            self._stop.set()
            client.loop_stop()
            raise BackendUnavailable(
                f"MQTT broker at {self.url.where} did not accept client {self.client_id} and its "
                f"subscription to {TOPIC_FILTER} within {self.connect_timeout_s:g}s"
            )
        self._worker = threading.Thread(target=self._run, name="mqtt-bridge", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the chunk in hand, then disconnect; what is still buffered is not acknowledged,
        so the broker redelivers it to the next session under this client id."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout_s)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> MqttBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, messages: int, timeout_s: float) -> bool:
        """Block until at least `messages` messages have been acknowledged (True) or time is up."""
        deadline = time.monotonic() + timeout_s
        with self._progress:
            while self.stats.messages < messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(left)
        return True

    def run_forever(
        self, stop: threading.Event, publisher: SystemMetricsPublisher | None = None
    ) -> None:
        """Start, then serve until `stop` is set (the CLI's SIGTERM/SIGINT) or the bridge fails;
        `publisher` reports on the bridge every second."""
        self.start()
        try:
            while not stop.wait(1.0) and not self._stop.is_set():
                if publisher is not None:
                    publisher.tick(asdict(self.stats))
        finally:
            self.stop()
        if self._failure is not None:
            raise SensorGuardError(f"the MQTT bridge stopped: {self._failure}") from self._failure

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _ud: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker at %s refused the connection: %s", self.url.where, reason)
            return
        self._generation += 1
        self.stats.connects += 1
        log.info(
            "connected to %s as %s (session %s)",
            self.url.where,
            self.client_id,
            "resumed" if flags.session_present else "new",
        )
        client.subscribe(TOPIC_FILTER, qos=1)

    def _on_subscribe(
        self, _client: mqtt.Client, _ud: Any, _mid: int, reasons: list[Any], _props: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error(
                "MQTT broker at %s refused the subscription to %s", self.url.where, TOPIC_FILTER
            )
            return
        self._subscribed.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if not self._stop.is_set():
            log.warning(
                "lost MQTT broker at %s (%s); reconnecting with backoff, unacknowledged "
                "messages will be redelivered",
                self.url.where,
                reason,
            )

    def _on_message(self, _client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        size = len(msg.payload)
        # An oversized payload is only ever dead-lettered, which keeps its start: the buffer
        # need not hold the rest.
        keep = size if size <= self._limits.max_bytes else DEAD_LETTER_RAW_CHARS
        item = _Inbound(
            msg.topic, bytes(msg.payload[:keep]), size, msg.mid, msg.qos, self._generation
        )
        # Blocking here is the backpressure: the network thread stops reading, the broker keeps
        # the rest. On shutdown the message is left unacknowledged, to be redelivered.
        while not self._stop.is_set():
            try:
                self._inbox.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- publishing (worker thread) ---------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = [self._inbox.get(timeout=0.2)]
            except queue.Empty:
                continue
            # Up to a batch's worth of bytes per chunk, as one POST: what one publish holds.
            held = chunk[0].size
            while len(chunk) < _MAX_CHUNK and held < self._limits.max_bytes:
                try:
                    chunk.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
                held += chunk[-1].size
            try:
                if self._deliver(chunk):
                    self._ack(chunk)
            except Exception as err:
                # Never die silently with messages unacknowledged: stop (run_forever raises),
                # and the broker redelivers them to the next session.
                log.exception("MQTT bridge stopped on an unexpected error")
                self._failure = err
                self._stop.set()
                return

    def _split(self, chunk: list[_Inbound]) -> _Split:
        """Rows per topic for the pipeline; dead letters for what never reaches it (messages
        over the limits, malformed JSON, another sensor's rows, readings over the rate)."""
        out = _Split()
        for item in chunk:
            source = f"mqtt:{item.topic}"
            match = _TOPIC.match(item.topic)
            topic_sensor = match.group(2) if match and is_sensor_id(match.group(2)) else None
            try:
                self._limits.check_bytes(item.size)
                body = parse_json(item.payload)
                rows = body if isinstance(body, list) else [body]
                self._limits.check_rows(len(rows))
            except ValidationFailed as err:
                out.rows += 1
                out.oversized += 1
                problem = ValidationFailed(
                    err.field, err.value, f"{err.expected} per message", subject=topic_sensor
                )
                out.reject(source, item.text, 0, problem)
                continue
            except (ValueError, UnicodeDecodeError) as err:
                out.rows += 1
                out.malformed += 1
                problem = ValidationFailed(
                    "payload",
                    item.text,
                    f"JSON, one reading or a list of readings (malformed JSON: {err})",
                    subject=topic_sensor,
                )
                out.reject(source, item.text, 0, problem)
                continue
            out.rows += len(rows)
            kept: list[tuple[int, Any]] = []
            for index, row in enumerate(rows):
                claimed = row.get("sensor_id") if isinstance(row, dict) else None
                if claimed is not None and claimed != topic_sensor:
                    out.mismatched += 1
                    problem = ValidationFailed(
                        "sensor_id",
                        claimed,
                        f"{topic_sensor}, the sensor of topic {item.topic}",
                        subject=topic_sensor,
                    )
                    out.reject(source, row, index, problem)
                    continue
                kept.append((index, row))
            granted = self._within_rate(topic_sensor, len(kept))
            for index, row in kept[granted:]:
                out.rate_limited += 1
                out.refuse(source, row, self._rate_limited(index, topic_sensor))
            out.by_topic.setdefault(item.topic, []).extend(row for _, row in kept[:granted])
        return out

    def _within_rate(self, sensor_id: str | None, n: int) -> int:
        """How many of a message's `n` rows its sensor's bucket admits now (never into debt).

        Only registered sensors have buckets: validation rejects the others' rows anyway, and
        a bucket per made-up id would grow the table without bound.
        """
        if sensor_id is None or self.pipeline.validator.catalog.lookup(sensor_id) is None:
            return n
        return self._per_sensor.take_up_to(sensor_id, n)

    def _rate_limited(self, index: int, sensor_id: str | None) -> Rejection:
        return Rejection(
            index=index,
            field="rate",
            reason=f"rate limited: sensor {sensor_id} may send {self._rate:g} readings/s "
            f"(bursts of {self._per_sensor.capacity:g}) and this reading came over it; "
            "it is kept here, not stored",
            sensor_id=sensor_id,
        )

    def _deliver(self, chunk: list[_Inbound]) -> bool:
        """Publish a chunk durably (retrying while the stream is down); False if stopped first."""
        split = self._split(chunk)
        for delay in retry_delays(self._stop):
            try:
                if split.letters:
                    self.pipeline.stream.publish(SENSOR_DATA_DLQ, split.letters)
                    metrics.DEAD_LETTERS.labels("mqtt").inc(len(split.letters))
                results = [
                    self.pipeline.submit(rows, source=f"mqtt:{topic}")
                    for topic, rows in split.by_topic.items()
                ]
            except BackendUnavailable as err:
                # A partial publish is retried whole: duplicates are absorbed downstream.
                self.stats.publish_retries += 1
                log.warning("stream unavailable (%s); retrying the chunk in %.1fs", err, delay)
                continue
            stats = self.stats
            stats.readings += split.rows
            stats.accepted += sum(len(r.accepted) for r in results)
            stats.rejected += sum(len(r.rejected) for r in results) + len(split.letters)
            stats.malformed += split.malformed
            stats.mismatched += split.mismatched
            stats.oversized += split.oversized
            stats.rate_limited += split.rate_limited
            return True
        return False  # stopped while the stream was down

    def _ack(self, chunk: list[_Inbound]) -> None:
        client = self._client
        if client is None:  # the worker only runs after start() set it
            return
        for item in chunk:
            # A PUBACK belongs to the connection that delivered the message; after a reconnect
            # the broker redelivers it and that copy gets acknowledged instead.
            if item.generation == self._generation:
                client.ack(item.mid, item.qos)
        with self._progress:
            self.stats.messages += len(chunk)
            self._progress.notify_all()


# -- publishing (simulator, demo) --------------------------------------------------------------


@dataclass
class MqttPublishResult:
    messages: int = 0
    readings: int = 0


def _payloads(sim: Simulation, batch: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(topic, readings) per message: each sensor's readings in order, up to `batch` per message."""
    from sensorguard.simulate import iter_wire_messages

    pending: dict[str, list[dict[str, Any]]] = {}
    for sensor, raw in iter_wire_messages(sim):
        topic = sensor_topic(sensor.site, sensor.sensor_id)
        rows = pending.setdefault(topic, [])
        rows.append(raw)
        if len(rows) >= batch:
            yield topic, rows
            pending[topic] = []
    for topic, rows in pending.items():
        if rows:
            yield topic, rows


def publish_mqtt(
    sim: Simulation,
    url: str,
    *,
    rate: float | None = None,
    qos: int = 1,
    batch: int = 1,
    window: int = 200,
    give_up_after_s: float = 300.0,
    client_id: str | None = None,
    settings: Settings | None = None,
) -> MqttPublishResult:
    """Publish a simulation to `sensors/<site>/<sensor_id>` like a fleet of devices would.

    rate: readings per second across the fleet (None: as fast as the broker acknowledges).
    batch: readings per message (1: one reading per message, as a device sends; more: a JSON
    list, for backfills). Returns once the broker acknowledged every message (QoS 1), resending
    across broker restarts; raises BackendUnavailable when it stops acknowledging for
    `give_up_after_s`.

    It logs in as the URL's user, else as SENSORGUARD_MQTT_PUBLISHER_USERNAME (a device, or a
    gateway the broker's ACL lets write every sensor's topic), never as the bridge; `settings`
    also give the TLS options.
    """
    from sensorguard.simulate import RateLimiter

    if batch < 1:
        raise ConfigError(f"batch must be at least 1 reading per message, got {batch}")
    target = MqttURL.parse(url)
    client = _new_client(
        target,
        client_id or f"sensorguard-sim-{uuid.uuid4().hex[:8]}",
        clean_session=True,
        manual_ack=False,
        settings=settings,
        credentials=(
            (settings.mqtt_publisher_username, settings.mqtt_publisher_password.get_secret_value())
            if settings is not None and settings.mqtt_publisher_username and not target.username
            else None
        ),
    )
    client.max_queued_messages_set(0)
    outstanding: set[int] = set()
    early: set[int] = set()  # acknowledged before publish() returned its mid
    acked = threading.Condition()

    def on_publish(_c: Any, _ud: Any, mid: int, _reason: Any, _props: Any) -> None:
        with acked:
            if mid in outstanding:
                outstanding.discard(mid)
            else:
                early.add(mid)
            acked.notify_all()

    def wait_until(most: int) -> None:
        deadline = time.monotonic() + give_up_after_s
        with acked:
            while len(outstanding) > most:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendUnavailable(
                        f"MQTT broker at {target.where} acknowledged nothing for "
                        f"{give_up_after_s:g}s; {len(outstanding)} messages unacknowledged"
                    )
                acked.wait(min(left, 1.0))

    client.on_publish = on_publish
    connected = threading.Event()

    def on_connect(_c: Any, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect_async(target.host, target.port, keepalive=_KEEPALIVE_S)
    client.loop_start()
    result = MqttPublishResult()
    limiter = RateLimiter(rate)
    try:
        if not connected.wait(10.0):
            raise BackendUnavailable(f"MQTT broker at {target.where} did not accept a connection")
        for topic, rows in _payloads(sim, batch):
            limiter.acquire(len(rows))
            payload = json.dumps(rows[0] if batch == 1 else rows)
            # Not under `acked`: paho calls on_publish holding its own lock, which publish()
            # takes too; a PUBACK faster than this line lands in `early` instead.
            info = client.publish(topic, payload, qos=qos)
            if qos > 0:
                with acked:
                    if info.mid in early:
                        early.discard(info.mid)
                    else:
                        outstanding.add(info.mid)
            result.messages += 1
            result.readings += len(rows)
            wait_until(window)
        wait_until(0)
    finally:
        client.disconnect()
        client.loop_stop()
    return result
