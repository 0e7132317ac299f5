"""The Kafka stream: the Stream contract on Apache Kafka with kafka-python (idempotent producer)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from kafka.structs import MemberState, OffsetAndMetadata

from sensorguard.errors import BackendUnavailable, ConfigError, NotFound
from sensorguard.settings import Settings, get_settings
from sensorguard.stream.base import ALL_TOPICS, Message, Record, next_offsets

log = logging.getLogger(__name__)

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9._-]+:\d{1,5}$")

# Consumer group timings for a small box: a crashed member is noticed after 10 s instead of 45 s,
# so a restarted writer gets its partitions back quickly (heartbeats come from a background
# thread, so long store writes do not count against the session).
_SESSION_TIMEOUT_MS = 10_000
_HEARTBEAT_MS = 1_000
_REQUEST_TIMEOUT_MS = 15_000
_JOIN_TIMEOUT_S = 2 * _SESSION_TIMEOUT_MS / 1000 + 10
# Batches of up to 256 KiB: a backfill of 50k readings goes out in a few dozen requests.
_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class KafkaURL:
    """What a kafka://HOST:PORT[,HOST:PORT][/?namespace=NS] URL says."""

    bootstrap: tuple[str, ...]
    namespace: str | None

    @classmethod
    def parse(cls, url: str) -> KafkaURL:
        prefix = "kafka://"
        if not url.startswith(prefix):
            raise ConfigError(f"expected a kafka://HOST:PORT URL, got {url!r}")
        rest = url[len(prefix) :]
        hosts, _, query = rest.partition("?")
        hosts = hosts.rstrip("/")
        bootstrap = tuple(h.strip() for h in hosts.split(",") if h.strip())
        bad = [h for h in bootstrap if not _HOSTPORT.match(h)]
        if not bootstrap or bad:
            raise ConfigError(
                f"SENSORGUARD_STREAM_URL must list brokers as HOST:PORT[,HOST:PORT], got {url!r}"
            )
        params = parse_qs(query, keep_blank_values=True)
        unknown = set(params) - {"namespace"}
        if unknown:
            raise ConfigError(
                f"SENSORGUARD_STREAM_URL accepts only ?namespace=NS, got {sorted(unknown)} in {url!r}"
            )
        namespace = params.get("namespace", [None])[-1] or None
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise ConfigError(
                "the Kafka namespace must be letters, digits, '_' or '-' (at most 64), "
                f"got {namespace!r}"
            )
        return cls(bootstrap, namespace)


def kafka_security(settings: Settings) -> dict[str, Any]:
    """The kafka-python arguments for TLS and SASL that every client (admin, producer,
    consumers) gets; none for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {}
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = True
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(settings, f"kafka_{name}")
            if path is not None:
                options[name] = str(path)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not settings.kafka_sasl_username:
            raise ConfigError(
                f"SENSORGUARD_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "SENSORGUARD_KAFKA_SASL_USERNAME and SENSORGUARD_KAFKA_SASL_PASSWORD"
            )
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


class KafkaStream:
    """A Stream on Kafka. Topics live under an optional namespace (`NS.sensor-data`).

    The producer is idempotent with acks=all, so a retried send never duplicates a message in a
    partition; `publish` returns only when every message is acknowledged. Clients are created on
    first use, so opening a stream that only consumes never starts a producer.
    """

    def __init__(
        self,
        bootstrap: Sequence[str],
        *,
        namespace: str | None = None,
        partitions: int = 6,
        settings: Settings | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        settings = settings or get_settings()
        self.connect_timeout_s = connect_timeout_s
        self.bootstrap = list(bootstrap)
        self.namespace = namespace
        self.default_partitions = partitions
        self.publish_timeout_s = settings.kafka_publish_timeout_s
        self._linger_ms = settings.kafka_linger_ms
        self._compression = (
            None if settings.kafka_compression == "none" else settings.kafka_compression
        )
        self._client_id = f"sensorguard-{os.getpid()}"
        self._security = kafka_security(settings)
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        partitions: int = 6,
        settings: Settings | None = None,
        connect_timeout_s: float = 10.0,
    ) -> KafkaStream:
        parsed = KafkaURL.parse(url)
        return cls(
            parsed.bootstrap,
            namespace=parsed.namespace,
            partitions=partitions,
            settings=settings,
            connect_timeout_s=connect_timeout_s,
        )

    @property
    def where(self) -> str:
        return ",".join(self.bootstrap)

    def physical(self, topic: str) -> str:
        """The broker-side name of a data-path topic."""
        return f"{self.namespace}.{topic}" if self.namespace else topic

    def group_id(self, group: str) -> str:
        """The broker-side id of a consumer group: namespaced too, so two namespaces on one
        cluster never share offsets."""
        return self.physical(group)

    def logical(self, name: str) -> str:
        if self.namespace and name.startswith(self.namespace + "."):
            return name[len(self.namespace) + 1 :]
        return name

    def _unavailable(self, doing: str, err: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"Kafka at {self.where}: {doing} failed: {err}")

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self._client_id,
            "bootstrap_timeout_ms": int(self.connect_timeout_s * 1000),
            "request_timeout_ms": _REQUEST_TIMEOUT_MS,
            **self._security,
        }

    def _admin_client(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                try:
                    self._admin = KafkaAdminClient(**self._common())
                except KafkaError as err:
                    raise self._unavailable("connecting the admin client", err) from err
            return self._admin

    def _producer_client(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        **self._common(),
                        # Explicit: kafka-python silently drops idempotence when another
                        # setting conflicts with it, unless it was asked for by name.
                        enable_idempotence=True,
                        acks="all",
                        linger_ms=self._linger_ms,
                        batch_size=_BATCH_BYTES,
                        compression_type=self._compression,
                        max_block_ms=int(self.publish_timeout_s * 1000),
                        delivery_timeout_ms=int(self.publish_timeout_s * 1000)
                        + self._linger_ms
                        + _REQUEST_TIMEOUT_MS,
                    )
                except KafkaError as err:
                    raise self._unavailable("connecting the producer", err) from err
                except RuntimeError as err:  # a compression codec without its library
                    raise ConfigError(
                        f"SENSORGUARD_KAFKA_COMPRESSION={self._compression}: {err}"
                    ) from err
            return self._producer

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        admin = self._admin_client()
        wanted = {
            self.physical(t): {"num_partitions": self.default_partitions, "replication_factor": -1}
            for t in topics
        }
        try:
            existing = set(admin.list_topics())
            missing = {name: spec for name, spec in wanted.items() if name not in existing}
            if missing:
                result = admin.create_topics(missing, raise_errors=False)
                for topic in result["topics"]:
                    code = topic["error_code"]
                    if code and code != TopicAlreadyExistsError.errno:
                        raise self._unavailable(
                            f"creating topic {topic['name']}",
                            RuntimeError(topic.get("error_message") or f"error code {code}"),
                        )
                # Creation is acknowledged before every partition has a leader; a publish
                # right after would otherwise wait for metadata.
                admin.wait_for_topics(list(missing), timeout_ms=_REQUEST_TIMEOUT_MS)
                log.info("created Kafka topics %s", ", ".join(sorted(missing)))
        except KafkaError as err:
            raise self._unavailable(f"creating topics {', '.join(wanted)}", err) from err

    def delete_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        """Delete this namespace's topics (tests and demos clean up after themselves)."""
        admin = self._admin_client()
        try:
            existing = set(admin.list_topics())
            names = [self.physical(t) for t in topics if self.physical(t) in existing]
            if names:
                admin.delete_topics(names, raise_errors=False)
        except KafkaError as err:
            raise self._unavailable("deleting topics", err) from err

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        producer = self._producer_client()
        name = self.physical(topic)
        deadline = time.monotonic() + self.publish_timeout_s
        try:
            futures = [
                producer.send(name, key=None if key is None else key.encode(), value=value)
                for key, value in messages
            ]
            # No flush(): kafka-python's flush(timeout) waits up to `timeout` for each of the
            # producer's incomplete batches in turn (other publishes' too) and goes on past
            # failed ones, so with the broker down a publish hung for the whole outage instead
            # of failing after publish_timeout_s (tests/resilience). Linger holds a batch only
            # kafka_linger_ms; each future is waited on until the one deadline.
            for future in futures:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
        except (KafkaTimeoutError, TimeoutError) as err:
            raise BackendUnavailable(
                f"Kafka at {self.where}: {len(messages)} messages to topic {name} not "
                f"acknowledged within {self.publish_timeout_s:g}s ({err})"
            ) from err
        except KafkaError as err:
            raise BackendUnavailable(
                f"Kafka at {self.where}: publishing to topic {name} failed: {err}"
            ) from err

    def consumer(self, topics: Sequence[str], group: str) -> KafkaStreamConsumer:
        return KafkaStreamConsumer(self, list(topics), group)

    def tail(self, topics: Sequence[str]) -> KafkaTail:
        return KafkaTail(self, list(topics))

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        admin = self._admin_client()
        names = [self.physical(t) for t in topics]
        group_id = self.group_id(group)
        try:
            described = admin.describe_topics(names)
            missing = [t["name"] for t in described if t["error_code"]]
            if missing:
                raise NotFound(
                    "topic", self.logical(missing[0]), context=f"Kafka at {self.where}: "
                )
            parts = [
                TopicPartition(t["name"], p["partition_index"])
                for t in described
                for p in t["partitions"]
            ]
            ends = admin.list_partition_offsets(dict.fromkeys(parts, OffsetSpec.LATEST))
            # Retention may have deleted the start of a partition: a group committed before it
            # (or never) resumes at the earliest offset still there, so lag counts from that.
            starts = admin.list_partition_offsets(dict.fromkeys(parts, OffsetSpec.EARLIEST))
            committed = admin.list_group_offsets({group_id: parts}).get(group_id, {})
        except KafkaError as err:
            raise self._unavailable(f"reading the lag of consumer group {group}", err) from err
        lags: dict[tuple[str, int], int] = {}
        for tp in parts:
            done = committed.get(tp)
            resume = max(starts[tp].offset, done.offset if done is not None else -1)
            lags[(self.logical(tp.topic), tp.partition)] = max(0, ends[tp].offset - resume)
        return lags

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            admin, self._admin = self._admin, None
        if producer is not None:
            producer.close(timeout=self.publish_timeout_s)
        if admin is not None:
            admin.close()


def _records(stream: KafkaStream, batches: Mapping[TopicPartition, Sequence[Any]]) -> list[Record]:
    """kafka-python's poll result as our records, topics by their logical names."""
    return [
        Record(
            topic=stream.logical(tp.topic),
            partition=tp.partition,
            offset=rec.offset,
            key=None if rec.key is None else rec.key.decode(),
            value=rec.value,
            timestamp_ms=rec.timestamp,
        )
        for tp, records in batches.items()
        for rec in records
    ]


class KafkaStreamConsumer:
    """A consumer-group member; offsets move only on `commit` (auto-commit is off)."""

    def __init__(self, stream: KafkaStream, topics: list[str], group: str) -> None:
        self._stream = stream
        self.group = group
        try:
            self._consumer: KafkaConsumer = KafkaConsumer(
                *(stream.physical(t) for t in topics),
                **stream._common(),
                group_id=self._group_id(group),
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=_SESSION_TIMEOUT_MS,
                heartbeat_interval_ms=_HEARTBEAT_MS,
            )
        except KafkaError as err:
            raise stream._unavailable(f"joining consumer group {group}", err) from err
        self._pending: list[Record] = []
        self._join()

    def _group_id(self, group: str) -> str:
        return self._stream.group_id(group)

    def _join(self) -> None:
        """Block until the group has a stable assignment for this member.

        Joining can take up to the session timeout (a crashed member must expire first). Waiting
        here means an empty poll later really means "nothing to read", which is what callers
        that stop when idle (the writer's --until-idle) rely on.
        """
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        while self._consumer.group_metadata().state != MemberState.STABLE:
            if time.monotonic() > deadline:
                self._consumer.close(autocommit=False)
                raise BackendUnavailable(
                    f"Kafka at {self._stream.where}: no stable assignment in consumer group "
                    f"{self.group} after {_JOIN_TIMEOUT_S:g}s"
                )
            asked = time.monotonic()
            fetched = self._fetch(100, 500)
            self._pending.extend(fetched)
            if not fetched and time.monotonic() - asked < 0.05:
                # While the group rebalances kafka-python's poll returns at once: without a
                # pause this loop spun a core (171k polls in 30 s, seen profiling the scorer).
                time.sleep(0.05)

    def _fetch(self, timeout_ms: int, max_records: int) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as err:
            raise self._stream._unavailable(f"polling for group {self.group}", err) from err
        return _records(self._stream, batches)

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        if self._pending:
            out, self._pending = self._pending[:max_records], self._pending[max_records:]
            return out
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            out = self._fetch(remaining_ms, max_records)
            if out or time.monotonic() >= deadline:
                return out

    def commit(self, records: Sequence[Record]) -> None:
        if not records:
            return
        offsets = {
            TopicPartition(self._stream.physical(t), p): OffsetAndMetadata(o, "", -1)
            for (t, p), o in next_offsets(records).items()
        }
        try:
            self._consumer.commit(offsets)
        except KafkaError as err:
            raise self._stream._unavailable(
                f"committing offsets of group {self.group}", err
            ) from err

    def assignment(self) -> frozenset[tuple[str, int]]:
        return frozenset(
            (self._stream.logical(tp.topic), tp.partition) for tp in self._consumer.assignment()
        )

    def close(self) -> None:
        # Leaving the group now hands its partitions over at once instead of after the session
        # timeout; nothing is auto-committed.
        self._consumer.close(autocommit=False)


class KafkaTail:
    """No group: every partition of the topics assigned by hand, read from its end on.

    Partitions added later are not followed (a live view reopens its tail instead).
    """

    group = None

    def __init__(self, stream: KafkaStream, topics: list[str]) -> None:
        self._stream = stream
        try:
            self._consumer: KafkaConsumer = KafkaConsumer(
                **stream._common(), group_id=None, enable_auto_commit=False
            )
            parts = [
                TopicPartition(stream.physical(t), p)
                for t in topics
                for p in sorted(self._consumer.partitions_for_topic(stream.physical(t)) or ())
            ]
            self._consumer.assign(parts)
            self._consumer.seek_to_end(*parts)
            for tp in parts:  # resolve the end now, so what is published next is read
                self._consumer.position(tp)
        except KafkaError as err:
            raise stream._unavailable(f"tailing {', '.join(topics)}", err) from err

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as err:
            raise self._stream._unavailable("tailing", err) from err
        return _records(self._stream, batches)

    def commit(self, records: Sequence[Record]) -> None:
        """A tail keeps no offsets."""

    def assignment(self) -> frozenset[tuple[str, int]]:
        return frozenset(
            (self._stream.logical(tp.topic), tp.partition) for tp in self._consumer.assignment()
        )

    def close(self) -> None:
        self._consumer.close(autocommit=False)
