"""A stream wrapper for ingest tests: the embedded log, with chosen topics refusing publishes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sensorguard.errors import BackendUnavailable
from sensorguard.stream import ALL_TOPICS, Message, Stream, StreamConsumer


@dataclass
class Refusing:
    """Publishes to `down` topics raise BackendUnavailable, as Kafka does while unreachable."""

    inner: Stream
    down: set[str] = field(default_factory=set)
    refused: int = 0

    def ensure_topics(self, topics: Sequence[str] = ALL_TOPICS) -> None:
        self.inner.ensure_topics(topics)

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if topic in self.down:
            self.refused += 1
            raise BackendUnavailable(f"{topic} is unavailable")
        self.inner.publish(topic, messages)

    def consumer(self, topics: Sequence[str], group: str) -> StreamConsumer:
        return self.inner.consumer(topics, group)

    def tail(self, topics: Sequence[str]) -> StreamConsumer:
        return self.inner.tail(topics)

    def lag(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        return self.inner.lag(group, topics)

    def close(self) -> None:
        self.inner.close()
