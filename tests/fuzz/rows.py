"""Hypothesis strategies for raw reading rows, each with what the validator must say about it.

A row is a valid reading of a registered sensor, or one such reading with exactly one thing
wrong: NaN/inf, out of range, an unknown channel or unit, a far-future, ancient, naive or
unparseable time, an unknown sensor, unicode or control characters in the id, a wrong type,
a missing or extra field, or not an object at all. `Row.field` is the field the rejection
must name (None: accepted). Batches add duplicates, identical and conflicting.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Reading, Sensor, is_sensor_id

TYPES = {t.name: t for t in BUILTIN_SENSOR_TYPES}
# Well inside the validator's window (300 s of skew, 3650 days of age): no boundary flakes.
RECENT = timedelta(days=30)
FUTURE = timedelta(hours=1)
ANCIENT = timedelta(days=3652)
ALIASES = {"°C": ["C", "degC", "celsius"], "%RH": ["%", "rh"], "dB(A)": ["dBA", "db(a)"]}


@dataclass(frozen=True)
class Row:
    raw: Any
    field: str | None  # what the rejection must name; None: the row is accepted
    why: str  # the kind of case, for the failure message


def offsets() -> st.SearchStrategy[timezone]:
    return st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def valid_reading(draw: st.DrawFn, sensors: tuple[Sensor, ...], now: datetime) -> dict[str, Any]:
    sensor = draw(st.sampled_from(sensors))
    specs = TYPES[sensor.sensor_type].channels
    names = draw(st.lists(st.sampled_from(sorted(specs)), min_size=1, unique=True))
    channels = {
        n: draw(st.floats(specs[n].min, specs[n].max, allow_nan=False, allow_infinity=False))
        for n in names
    }
    ago = draw(st.timedeltas(timedelta(0), RECENT))
    row: dict[str, Any] = {
        "sensor_id": sensor.sensor_id,
        "ts": (now - ago).astimezone(draw(offsets())).isoformat(),
        "channels": channels,
    }
    if draw(st.booleans()):
        row["units"] = {
            n: draw(st.sampled_from([specs[n].unit, *ALIASES.get(specs[n].unit, [])]))
            for n in names
        }
    if draw(st.booleans()):
        row["seq"] = draw(st.integers(0, 2**53))
    return row


def _some_channel(row: dict[str, Any]) -> str:
    return sorted(row["channels"])[0]


def _bad_ids() -> st.SearchStrategy[str]:
    """Ids no sensor may have: unicode, control characters, spaces, MQTT wildcards, too long."""
    return st.one_of(
        st.text(min_size=1, max_size=80),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda t: f"th-{t}"),
        st.sampled_from(
            ["th 1", "th/1", "th+1", "th#1", "-th", "th\x00", "th\n1", "\uff34\uff48-1"]
        ),
        st.just("t" * 65),
    ).filter(lambda s: not is_sensor_id(s))


def _wrong_type_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


@st.composite
def broken_reading(draw: st.DrawFn, sensors: tuple[Sensor, ...], now: datetime) -> Row:
    row = draw(valid_reading(sensors, now))
    sensor = next(s for s in sensors if s.sensor_id == row["sensor_id"])
    specs = TYPES[sensor.sensor_type].channels
    channel = _some_channel(row)
    kind = draw(
        st.sampled_from(
            [
                "nan",
                "range",
                "unknown-channel",
                "channel-name",
                "unit",
                "future",
                "ancient",
                "naive",
                "unparseable-ts",
                "unknown-sensor",
                "bad-id",
                "wrong-type",
                "missing",
                "extra",
                "empty-channels",
                "negative-seq",
            ]
        )
    )
    if kind == "nan":
        row["channels"][channel] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return Row(row, f"channels.{channel}", kind)
    if kind == "range":
        spec = specs[channel]
        row["channels"][channel] = draw(
            st.one_of(
                st.floats(spec.max, 1e300, exclude_min=True),
                st.floats(-1e300, spec.min, exclude_max=True),
            )
        )
        return Row(row, f"channels.{channel}", kind)
    if kind == "unknown-channel":
        name = draw(st.sampled_from(["pressure", "co2", "lux"]))
        row["channels"][name] = 1.0
        return Row(row, f"channels.{name}", kind)
    if kind == "channel-name":
        row["channels"]["Temp!"] = 1.0
        return Row(row, "channels.Temp!", kind)
    if kind == "unit":
        row["units"] = {channel: draw(st.sampled_from(["furlongs", "K", "°F", ""]))}
        return Row(row, f"units.{channel}", kind)
    if kind == "future":
        ahead = draw(st.timedeltas(FUTURE, datetime(9999, 1, 1, tzinfo=UTC) - now))
        row["ts"] = (now + ahead).astimezone(draw(offsets())).isoformat()
        return Row(row, "ts", kind)
    if kind == "ancient":
        then = draw(st.datetimes(datetime(1, 1, 1), (now - ANCIENT).replace(tzinfo=None)))
        # Year 1 at a positive offset is year 0 in UTC: the overflow case is in here too.
        row["ts"] = then.replace(tzinfo=draw(offsets())).isoformat()
        return Row(row, "ts", kind)
    if kind == "naive":
        row["ts"] = datetime.fromisoformat(row["ts"]).replace(tzinfo=None).isoformat()
        return Row(row, "ts", kind)
    if kind == "unparseable-ts":
        # No digits: a digit string would parse as a Unix time.
        row["ts"] = draw(st.text(string.ascii_letters + " :-+TZ\x00é", max_size=30))
        return Row(row, "ts", kind)
    if kind == "unknown-sensor":
        row["sensor_id"] = "ghost-" + draw(
            st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
        )
        return Row(row, "sensor_id", kind)
    if kind == "bad-id":
        row["sensor_id"] = draw(_bad_ids())
        return Row(row, "sensor_id", kind)
    if kind == "wrong-type":
        where = draw(st.sampled_from(["sensor_id", "ts", "channels", "value", "units", "seq"]))
        if where == "value":
            row["channels"][channel] = draw(_wrong_type_values())
            return Row(row, f"channels.{channel}", kind)
        if where == "channels":
            row["channels"] = draw(
                st.one_of(st.lists(st.floats(), max_size=2), st.text(), st.none())
            )
        elif where == "units":
            row["units"] = draw(st.one_of(st.lists(st.text(), max_size=2), st.text()))
        elif where == "seq":
            row["seq"] = draw(st.sampled_from([True, "3", 1.5, [], {}]))
        elif where == "ts":
            row["ts"] = draw(st.one_of(st.none(), st.booleans(), st.lists(st.text(), max_size=1)))
        else:
            row["sensor_id"] = draw(st.one_of(st.integers(), st.none(), st.lists(st.text())))
        return Row(row, where, kind)
    if kind == "missing":
        gone = draw(st.sampled_from(["sensor_id", "ts", "channels"]))
        del row[gone]
        return Row(row, gone, kind)
    if kind == "extra":
        name = draw(st.sampled_from(["site", "value", "Sensor_ID", "tś"]))
        row[name] = 1
        return Row(row, name, kind)
    if kind == "empty-channels":
        row["channels"] = {}
        return Row(row, "channels", kind)
    row["seq"] = draw(st.integers(max_value=-1))
    return Row(row, "seq", "negative-seq")


def not_an_object() -> st.SearchStrategy[Row]:
    values = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.integers())
    )
    return values.map(lambda v: Row(v, "reading", "not-an-object"))


def rows(sensors: tuple[Sensor, ...], now: datetime) -> st.SearchStrategy[Row]:
    valid = valid_reading(sensors, now).map(lambda r: Row(r, None, "valid"))
    return st.one_of(valid, broken_reading(sensors, now), not_an_object())


@st.composite
def batches(draw: st.DrawFn, sensors: tuple[Sensor, ...], now: datetime) -> list[Row]:
    """Rows, with some valid ones sent again: identical (a resend) or with other values."""
    batch = draw(st.lists(rows(sensors, now), min_size=1, max_size=25))
    valid = [r for r in batch if r.field is None]
    for original in draw(st.lists(st.sampled_from(valid), max_size=4)) if valid else []:
        copy = dict(original.raw, channels=dict(original.raw["channels"]))
        if draw(st.booleans()):
            name = _some_channel(copy)
            spec = TYPES[_type_of(sensors, copy["sensor_id"])].channels[name]
            copy["channels"][name] = spec.min if copy["channels"][name] != spec.min else spec.max
        batch.insert(draw(st.integers(0, len(batch))), Row(copy, None, "duplicate"))
    return superseded(batch)


def _type_of(sensors: tuple[Sensor, ...], sensor_id: str) -> str:
    return next(s.sensor_type for s in sensors if s.sensor_id == sensor_id)


def superseded(batch: list[Row]) -> list[Row]:
    """The batch's expectations once duplicates are judged: of the valid readings sharing a
    (sensor_id, ts), each that differs from the last of them is rejected on `ts`."""
    last: dict[tuple[str, datetime], Reading] = {}
    parsed: dict[int, Reading] = {}
    for i, row in enumerate(batch):
        if row.field is None:
            parsed[i] = Reading.model_validate(row.raw)
            last[parsed[i].key()] = parsed[i]
    return [
        Row(row.raw, "ts", "superseded duplicate")
        if i in parsed and parsed[i] != last[parsed[i].key()]
        else row
        for i, row in enumerate(batch)
    ]
