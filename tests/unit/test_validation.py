"""The reading validator: what it accepts, and that every rejection names field, value, range."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorguard.errors import ValidationFailed
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor
from sensorguard.validation import ReadingValidator, StaticCatalog

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TYPES = {t.name: t for t in BUILTIN_SENSOR_TYPES}
CATALOG = StaticCatalog.of(
    [
        Sensor(sensor_id="env-1", sensor_type="environment", site="a"),
        Sensor(sensor_id="th-1", sensor_type="climate", site="a"),
    ],
    BUILTIN_SENSOR_TYPES,
)
VALIDATOR = ReadingValidator(CATALOG, max_clock_skew_s=60, max_age_days=30, clock=lambda: NOW)
ENV = TYPES["environment"].channels


def raw(**channels: object) -> dict[str, object]:
    return {"sensor_id": "env-1", "ts": "2026-06-01T11:00:00Z", "channels": channels}


@st.composite
def in_range_reading(draw: st.DrawFn) -> dict[str, object]:
    names = draw(st.sets(st.sampled_from(sorted(ENV)), min_size=1))
    chans = {n: draw(st.floats(ENV[n].min, ENV[n].max, allow_nan=False)) for n in names}
    offset = draw(st.integers(-29 * 86400, 59))
    ts = (NOW + timedelta(seconds=offset)).isoformat()
    return {"sensor_id": "env-1", "ts": ts, "channels": chans}


@given(in_range_reading())
def test_every_in_range_reading_is_accepted(row: dict[str, object]) -> None:
    reading = VALIDATOR.validate(row)
    assert reading.channels == row["channels"]
    assert reading.ts.tzinfo is UTC


@given(
    st.sampled_from(sorted(ENV)),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_out_of_range_or_non_finite_is_rejected_naming_field_and_range(
    channel: str, value: float
) -> None:
    spec = ENV[channel]
    row = raw(**{channel: value})
    if math.isfinite(value) and spec.min <= value <= spec.max:
        VALIDATOR.validate(row)
        return
    with pytest.raises(ValidationFailed) as info:
        VALIDATOR.validate(row)
    err = info.value
    assert err.field == f"channels.{channel}"
    assert err.subject == "env-1"
    expected = "a finite number" if not math.isfinite(value) else f"[{spec.min:g}, {spec.max:g}]"
    assert expected in str(err)
    assert repr(value) in str(err) or str(value) in str(err)


def test_message_reads_like_a_sentence() -> None:
    row = {"sensor_id": "th-1", "ts": "2026-06-01T11:00:00Z", "channels": {"humidity": 180.2}}
    with pytest.raises(
        ValidationFailed,
        match=r"^channels\.humidity must be within \[0, 100\] %RH, got 180\.2 for sensor th-1$",
    ):
        VALIDATOR.validate(row)


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ({**raw(temperature=20), "sensor_id": "nope-9"}, "sensor_id", "a registered sensor"),
        ({**raw(temperature=20), "ts": "2026-06-01T11:00:00"}, "ts", "timezone offset"),
        ({**raw(temperature=20), "ts": "2026-06-01T12:05:00Z"}, "ts", "at most 60s ahead"),
        ({**raw(temperature=20), "ts": "2026-01-01T00:00:00Z"}, "ts", "within the last 30 days"),
        ({**raw(temperature=20), "units": {"temperature": "°F"}}, "units.temperature", "°C"),
        (raw(pressure=1013.0), "channels.pressure", "channels sensor type environment declares"),
        ({**raw(temperature=20), "colour": "red"}, "colour", "absent"),
        ({"ts": "2026-06-01T11:00:00Z", "channels": {"temperature": 1}}, "sensor_id", "present"),
        (raw(temperature="warm"), "channels.temperature", "a JSON number, not text"),
        ("not an object", "reading", "a JSON object"),
    ],
)
def test_rejections_name_field_and_expectation(row: object, field: str, expected: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        VALIDATOR.validate(row)
    assert info.value.field == field
    assert expected in str(info.value)


def test_unit_aliases_are_accepted() -> None:
    row = {
        **raw(temperature=20, humidity=40, sound_level=30),
        "units": {"temperature": "degC", "humidity": "%", "sound_level": "dBA"},
    }
    assert VALIDATOR.validate(row).units is not None


def test_ts_is_utc_and_millisecond_precise() -> None:
    reading = VALIDATOR.validate({**raw(temperature=1), "ts": "2026-06-01T13:00:00.123456+02:00"})
    assert reading.ts == datetime(2026, 6, 1, 11, 0, 0, 123000, tzinfo=UTC)


def _identity(row: object) -> object:
    """A good row's (sensor, ts); every other row unique. Two good rows of one identity with
    other values are a conflict the batch refuses (tests/fuzz/test_findings.py), not this."""
    return row["ts"] if isinstance(row, dict) and row != raw(humidity=-5.0) else object()


@given(
    st.lists(
        st.one_of(in_range_reading(), st.just(raw(humidity=-5.0)), st.just("junk")),
        max_size=20,
        unique_by=_identity,
    )
)
def test_batch_keeps_good_rows_and_explains_each_bad_one(rows: list[object]) -> None:
    result = VALIDATOR.validate_batch(rows)
    assert len(result.accepted) + len(result.rejected) == len(rows)
    bad = [i for i, r in enumerate(rows) if r == "junk" or r == raw(humidity=-5.0)]
    assert [rej.index for rej in result.rejected] == bad
    assert all(rej.reason for rej in result.rejected)
