"""Ingest under bad input, by property: every row is accepted, or refused naming its field and
dead-lettered with the reason; every bad request gets a 4xx that says what is wrong.

Rows come from `rows.py` with what the validator must say about each, so the properties are
exact: the accounting (accepted + rejected = sent), the field each rejection names, the dead
letter each rejection leaves on `sensor-data-dlq`, the readings that reach `sensor-data`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fuzz_support import PROPERTIES, Tally
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rows import Row, batches
from starlette.testclient import TestClient

from conftest import SENSORS, Ingest
from sensorguard.errors import clip
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Reading, Rejection, utc_now
from sensorguard.stream import SENSOR_DATA, SENSOR_DATA_DLQ, StreamConsumer
from sensorguard.stream.codec import (
    DEAD_LETTER_REASON_CHARS,
    DEAD_LETTER_TEXT_CHARS,
    decode_dead_letter,
    decode_reading,
)
from sensorguard.validation import ReadingValidator, StaticCatalog

PATH = "/v1/readings"
NOW = utc_now()
PROPERTY = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150
)
HTTP = settings(PROPERTY, max_examples=60)


def names_field(rejection: Rejection, row: Row) -> bool:
    assert row.field is not None
    # A bad key of a mapping is reported below it: channels.Temp!.[key].
    return rejection.field == row.field or rejection.field.startswith(row.field + ".")


def check_answer(batch: list[Row], accepted: list[Any], rejections: list[Rejection]) -> None:
    """The validator's (or the door's) verdicts are exactly what the rows call for."""
    assert len(accepted) + len(rejections) == len(batch)
    expected_bad = {i: row for i, row in enumerate(batch) if row.field is not None}
    assert [r.index for r in rejections] == sorted(expected_bad), [
        (i, r.why, r.raw) for i, r in enumerate(batch)
    ]
    for rejection in rejections:
        row = expected_bad[rejection.index]
        assert names_field(rejection, row), (row.why, row.raw, rejection)
        assert rejection.reason.startswith(rejection.field[:40]), rejection
        # Rejections travel as JSON: NaN, huge ints and control characters must survive it.
        json.dumps(rejection.model_dump(mode="json"), allow_nan=False)


@given(batch=batches(SENSORS, NOW))
@PROPERTY
def test_the_validator_accepts_or_rejects_every_row_naming_its_field(
    batch: list[Row], tally: Tally
) -> None:
    validator = ReadingValidator(StaticCatalog.of(SENSORS, BUILTIN_SENSOR_TYPES))
    result = validator.validate_batch([row.raw for row in batch])
    check_answer(batch, result.accepted, result.rejected)
    good = [Reading.model_validate(row.raw) for row in batch if row.field is None]
    assert result.accepted == good
    tally.record_rows(
        "ReadingValidator.validate_batch",
        accepted=len(result.accepted),
        rejected=len(result.rejected),
    )


@pytest.fixture(scope="module")
def door(ingest: Ingest) -> Iterator[tuple[TestClient, StreamConsumer, StreamConsumer]]:
    """A client of the ingest app and tails of its two topics (what each request added)."""
    headers = {"X-API-Key": ingest.platform.keys["data_scientist"]}
    with TestClient(ingest.app, headers=headers) as client:  # type: ignore[arg-type]
        yield client, ingest.stream.tail([SENSOR_DATA]), ingest.stream.tail([SENSOR_DATA_DLQ])


def drain(tail: StreamConsumer) -> list[bytes]:
    out: list[bytes] = []
    while batch := tail.poll(10_000, timeout_s=0):
        out += [r.value for r in batch]
    return out


def post(client: TestClient, tally: Tally, body: bytes, **headers: str) -> Any:
    answer = client.post(
        PATH, content=body, headers={"content-type": "application/json", **headers}
    )
    tally.record("ingest", "POST", PATH, answer.status_code, by=PROPERTIES)
    return answer


@given(batch=batches(SENSORS, NOW))
@HTTP
def test_the_http_door_accounts_for_every_row_and_dead_letters_each_rejection(
    batch: list[Row], door: tuple[TestClient, StreamConsumer, StreamConsumer], tally: Tally
) -> None:
    client, published, dead = door
    drain(published), drain(dead)
    # NaN and Infinity go as the literals devices send (Python's json reads them).
    body = json.dumps({"readings": [row.raw for row in batch]}, allow_nan=True).encode()
    answer = post(client, tally, body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    rejections = [Rejection.model_validate(r) for r in got["rejections"]]
    assert (got["accepted"], got["rejected"]) == (len(batch) - len(rejections), len(rejections))
    check_answer(batch, [None] * got["accepted"], rejections)

    # The log is partitioned by sensor: compare what arrived, not in which order.
    readings = Counter(decode_reading(v).model_dump_json() for v in drain(published))
    sent = [Reading.model_validate(r.raw) for r in batch if r.field is None]
    assert readings == Counter(r.model_dump_json() for r in sent)
    letters = [decode_dead_letter(v) for v in drain(dead)]
    assert len(letters) == len(rejections), "a rejected row without its dead letter"
    kept = Counter((letter.field, letter.reason, letter.source) for letter in letters)
    assert kept == Counter(
        (clip(r.field, DEAD_LETTER_TEXT_CHARS), clip(r.reason, DEAD_LETTER_REASON_CHARS), "http")
        for r in rejections
    )
    raws = [as_kept(batch[r.index].raw) for r in rejections]
    assert all(letter.raw in raws for letter in letters if not letter.truncated)
    tally.record_rows(
        "POST /v1/readings (HTTP door)",
        accepted=got["accepted"],
        rejected=got["rejected"],
        dead_lettered=len(letters),
    )


def test_a_batch_sent_twice_is_accepted_twice_and_stored_once(
    door: tuple[TestClient, StreamConsumer, StreamConsumer], ingest: Ingest, tally: Tally
) -> None:
    """Across batches a reading's identity is (sensor_id, ts): a resend is absorbed downstream
    (the store upserts), so the door accepts it again rather than guessing it was a retry."""
    from sensorguard.ingest.writer import run_writer
    from sensorguard.wiring import open_configured_store

    client, published, dead = door
    drain(published), drain(dead)
    first = (NOW - timedelta(hours=1)).replace(microsecond=0)
    times = [first + timedelta(seconds=s) for s in range(5)]
    rows = [
        {"sensor_id": "th-2", "ts": ts.isoformat(), "channels": {"humidity": 40.0}} for ts in times
    ]
    for _ in range(2):
        answer = post(client, tally, json.dumps({"readings": rows}).encode())
        assert answer.json()["accepted"] == 5, answer.text
    assert len(drain(published)) == 10 and drain(dead) == []
    store = open_configured_store(ingest.platform.settings)
    try:
        run_writer(ingest.stream, store, group="fuzz-writer", until_idle_s=0.5)
        stored = store.read_readings(["th-2"], first, utc_now())
        assert sorted(r.ts for r in stored if r.ts in times) == times
    finally:
        store.close()


# Bodies no JSON parser takes, or JSON of the wrong shape: each a 4xx saying what is wrong.
MALFORMED = st.one_of(
    st.binary(max_size=200).filter(lambda b: not _parses(b)),
    st.text(max_size=100).map(str.encode).filter(lambda b: not _parses(b)),
    st.sampled_from(
        [b"", b"{", b'{"readings": [', b'{"readings": [1,]}', b"\xff\xfe{}", b"{'readings': []}"]
    ),
)
WRONG_SHAPE = st.one_of(
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=10),
    st.integers(),
    st.fixed_dictionaries({"readings": st.one_of(st.none(), st.text(), st.integers())}),
    st.fixed_dictionaries({"reading": st.lists(st.integers(), max_size=2)}),
    st.fixed_dictionaries({"readings": st.just([]), "extra": st.integers()}),
)


def as_kept(raw: Any) -> Any:
    """A row as its dead letter keeps it: NaN and the infinities as text, as JSON has none."""
    return json.loads(json.dumps(raw), parse_constant=str)


def _parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@given(body=st.one_of(MALFORMED, WRONG_SHAPE.map(lambda v: json.dumps(v).encode())))
@HTTP
def test_malformed_or_misshapen_bodies_get_a_4xx_that_says_where(
    body: bytes, door: tuple[TestClient, StreamConsumer, StreamConsumer], tally: Tally
) -> None:
    client, published, dead = door
    drain(published), drain(dead)
    answer = post(client, tally, body)
    assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
    detail = answer.json()["detail"]
    if answer.status_code == 422:
        # FastAPI's own refusal: each problem located in the body (a field, or a position).
        assert all(problem["loc"][0] == "body" for problem in detail), detail
    else:
        assert isinstance(detail, str) and detail, detail
    assert drain(published) == [] and drain(dead) == []


@given(extra=st.integers(1, 50_000), chunked=st.booleans())
@settings(HTTP, max_examples=10)
def test_a_body_over_the_byte_limit_is_refused_before_it_is_parsed(
    extra: int,
    chunked: bool,
    door: tuple[TestClient, StreamConsumer, StreamConsumer],
    ingest: Ingest,
    tally: Tally,
) -> None:
    from sensorguard.ingest.limits import BatchLimits

    client, published, dead = door
    drain(published), drain(dead)
    limit = BatchLimits.of(ingest.platform.settings).max_bytes
    # Not even JSON: a 413 proves the limit answered before any parser saw the body.
    body = b"{" * (limit + extra)
    if chunked:  # no Content-Length: counted as it arrives
        answer = client.post(
            PATH, content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
        )
    else:
        answer = client.post(PATH, content=body, headers={"content-type": "application/json"})
    tally.record("ingest", "POST", PATH, answer.status_code, by=PROPERTIES)
    assert answer.status_code == 413, answer.text
    assert f"at most {limit} bytes" in answer.json()["detail"]
    assert drain(published) == [] and drain(dead) == []


def test_a_batch_over_the_row_limit_is_refused_naming_the_limit(
    door: tuple[TestClient, StreamConsumer, StreamConsumer], ingest: Ingest, tally: Tally
) -> None:
    client, published, dead = door
    drain(published), drain(dead)
    rows = ingest.platform.settings.ingest_max_batch + 1
    answer = post(client, tally, json.dumps({"readings": [0] * rows}).encode())
    assert answer.status_code == 413, answer.text
    assert "readings must be at most" in answer.json()["detail"]
    assert drain(published) == [] and drain(dead) == []
