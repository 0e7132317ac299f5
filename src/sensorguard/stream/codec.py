"""How readings, scores and dead letters are encoded on the stream (JSON, UTF-8)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from sensorguard.schemas import Reading, Rejection, Score, utc_now


class DeadLetter(BaseModel):
    """A message that failed validation, kept with the reason so nothing is silently lost."""

    source: str = Field(description="where it came from: http, mqtt:<topic>, or a topic name")
    received_at: datetime = Field(default_factory=utc_now)
    field: str
    reason: str
    value: Any = None
    sensor_id: str | None = None
    raw: Any = Field(description="the message as received (parsed JSON, or text when not JSON)")


def encode_reading(reading: Reading) -> bytes:
    return reading.model_dump_json(exclude_none=True).encode()


def decode_reading(value: bytes) -> Reading:
    return Reading.model_validate_json(value)


def encode_score(score: Score) -> bytes:
    return score.model_dump_json().encode()


def decode_score(value: bytes) -> Score:
    return Score.model_validate_json(value)


def dead_letter(source: str, raw: Any, rejection: Rejection) -> bytes:
    letter = DeadLetter(
        source=source,
        field=rejection.field,
        reason=rejection.reason,
        value=rejection.value,
        sensor_id=rejection.sensor_id,
        raw=raw,
    )
    return letter.model_dump_json().encode()


def decode_dead_letter(value: bytes) -> DeadLetter:
    return DeadLetter.model_validate_json(value)


def parse_json(payload: bytes) -> Any:
    """Parse a payload; raises ValueError with the position on malformed JSON."""
    return json.loads(payload)
