"""How readings, scores and dead letters are encoded on the stream (JSON, UTF-8)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sensorguard.errors import clip
from sensorguard.schemas import Reading, Rejection, Score, utc_now

# The bounds of one dead letter. The DLQ keeps what was refused, and a client chooses how big
# that is: unbounded, one made-up 2 kB sensor id made every letter ~10 kB (the id copied into
# value, reason and raw), so 40 bad requests wrote half a gigabyte.
DEAD_LETTER_RAW_CHARS = 2048
"""The raw message is kept whole up to this many characters of its JSON; beyond, cut there."""
DEAD_LETTER_REASON_CHARS = 512
"""The reason is cut at this many characters (clipped text ends with its original length)."""
DEAD_LETTER_TEXT_CHARS = 192
"""Source, field, sensor_id and the echoed value are each cut at this many characters."""
DEAD_LETTER_MAX_BYTES = 16 * 1024
"""Hence the most one encoded letter can take: JSON escapes a character into at most 6 bytes."""


class DeadLetter(BaseModel):
    """A message that failed validation, kept with the reason so nothing is silently lost."""

    # A NaN or Infinity that got a row refused is kept as the text "NaN"/"Infinity": JSON has
    # no such number, and pydantic's default (null) made the raw row read as a missing value.
    model_config = ConfigDict(ser_json_inf_nan="strings")

    source: str = Field(description="where it came from: http, mqtt:<topic>, or a topic name")
    received_at: datetime = Field(default_factory=utc_now)
    field: str
    reason: str
    value: Any = None
    sensor_id: str | None = None
    raw: Any = Field(
        description="the message as received (parsed JSON, or text when not JSON); when "
        "truncated, the first DEAD_LETTER_RAW_CHARS characters of its JSON, as text"
    )
    truncated: bool = Field(
        False, description="raw, or a text field, was cut to the bounds of a dead letter"
    )
    raw_bytes: int | None = Field(
        None, description="when raw was cut: the size of the whole message's JSON, in bytes"
    )


def encode_reading(reading: Reading) -> bytes:
    return reading.model_dump_json(exclude_none=True).encode()


def decode_reading(value: bytes) -> Reading:
    return Reading.model_validate_json(value)


def encode_score(score: Score) -> bytes:
    return score.model_dump_json().encode()


def decode_score(value: bytes) -> Score:
    return Score.model_validate_json(value)


def dead_letter(source: str, raw: Any, rejection: Rejection) -> bytes:
    """The encoded letter, every part cut to the bounds above (and `truncated` if any was)."""
    # default=repr: a raw row that is not JSON-native is still measured (and kept) as its repr.
    raw_json = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=repr)
    raw_bytes = len(raw_json.encode())
    raw_cut = len(raw_json) > DEAD_LETTER_RAW_CHARS
    if raw_cut:
        # ASCII-escaped, so the text kept has no raw control characters: embedding it in the
        # letter at most doubles it (quotes and backslashes), which the byte bound counts on.
        raw = json.dumps(raw, separators=(",", ":"), default=repr)[:DEAD_LETTER_RAW_CHARS]
    cut = raw_cut

    def bounded(text: str, limit: int) -> str:
        nonlocal cut
        short = clip(text, limit)
        cut |= short is not text  # clip hands back the very string when it fits
        return short

    value = rejection.value
    if len(json.dumps(value, default=repr)) > DEAD_LETTER_TEXT_CHARS:
        value, cut = clip(repr(value), DEAD_LETTER_TEXT_CHARS), True
    sensor_id = rejection.sensor_id
    letter = DeadLetter(
        source=bounded(source, DEAD_LETTER_TEXT_CHARS),
        field=bounded(rejection.field, DEAD_LETTER_TEXT_CHARS),
        reason=bounded(rejection.reason, DEAD_LETTER_REASON_CHARS),
        value=value,
        sensor_id=None if sensor_id is None else bounded(sensor_id, DEAD_LETTER_TEXT_CHARS),
        raw=raw,
        raw_bytes=raw_bytes if raw_cut else None,
    )
    letter.truncated = cut
    return letter.model_dump_json().encode()


def decode_dead_letter(value: bytes) -> DeadLetter:
    return DeadLetter.model_validate_json(value)


def parse_json(payload: bytes) -> Any:
    """Parse a payload; raises ValueError with the position on malformed JSON."""
    return json.loads(payload)
