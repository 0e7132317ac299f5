"""Dead letters are bounded: a client's oversized value is cut, and the letter says it was."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Rejection, Sensor, utc_now
from sensorguard.stream import SENSOR_DATA_DLQ, open_stream
from sensorguard.stream.codec import DEAD_LETTER_MAX_BYTES, dead_letter, decode_dead_letter
from sensorguard.validation import ReadingValidator, StaticCatalog

SENSORS = [Sensor(sensor_id="th-1", sensor_type="climate", site="a")]


def test_a_batch_of_2kb_ids_leaves_small_dead_letters_that_still_explain(tmp_path: Path) -> None:
    stream = open_stream(f"sqlite:///{tmp_path / 'stream.db'}", partitions=2)
    pipeline = IngestPipeline(
        ReadingValidator(StaticCatalog.of(SENSORS, BUILTIN_SENSOR_TYPES)), stream
    )
    ts = (utc_now() - timedelta(minutes=5)).isoformat()
    made_up = [
        {"sensor_id": f"{i:04d}" + "x" * 2044, "ts": ts, "channels": {"temperature": 20.0}}
        for i in range(200)
    ]
    result = pipeline.submit(made_up, source="http")
    assert len(result.rejected) == 200
    # What the client is told back is bounded too: the id is echoed cut, not whole.
    assert all(len(r.reason) < 400 and len(json.dumps(r.value)) < 400 for r in result.rejected)

    records = stream.consumer([SENSOR_DATA_DLQ], "t").poll(500, timeout_s=0.5)
    assert len(records) == 200
    for rec in records:
        assert len(rec.value) <= DEAD_LETTER_MAX_BYTES
        assert rec.key is None or len(rec.key) <= 64  # no 2 kB Kafka keys either
        letter = decode_dead_letter(rec.value)
        assert letter.field == "sensor_id"
        assert "must be text matching" in letter.reason and "A-Za-z0-9" in letter.reason
        assert letter.truncated and letter.raw_bytes is not None and letter.raw_bytes > 2048


def test_any_dead_letter_stays_within_the_bound_whatever_it_holds() -> None:
    nasty = '"\\\x01é😀' * 5000  # quotes, backslashes, control and multi-byte characters
    rej = Rejection(index=0, field=nasty, value=nasty, reason=nasty, sensor_id=nasty)
    encoded = dead_letter(nasty, {"k": nasty, "n": 10**4000}, rej)
    assert len(encoded) <= DEAD_LETTER_MAX_BYTES
    letter = decode_dead_letter(encoded)
    assert letter.truncated and letter.raw_bytes is not None and letter.raw_bytes > 50_000


def test_a_small_dead_letter_is_kept_whole() -> None:
    raw = {"sensor_id": "th-1", "channels": {"humidity": 180.2}}
    rej = Rejection(index=0, field="channels.humidity", value=180.2, reason="too wet")
    letter = decode_dead_letter(dead_letter("http", raw, rej))
    assert letter.raw == raw and not letter.truncated and letter.raw_bytes is None
