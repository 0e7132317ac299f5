"""Checks a raw reading against its sensor type: schema, units, physical ranges, clock skew."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from sensorguard.errors import ValidationFailed, clip
from sensorguard.schemas import (
    BatchResult,
    Reading,
    Rejection,
    Sensor,
    SensorType,
    canonical_unit,
    is_sensor_id,
    utc_now,
)


class SensorCatalog(Protocol):
    """Where the validator learns a sensor's type; the metadata store is the real one."""

    def lookup(self, sensor_id: str) -> tuple[Sensor, SensorType] | None: ...


@dataclass
class StaticCatalog:
    """An in-memory catalog (simulator, tests, embedded demo)."""

    sensors: dict[str, Sensor]
    types: dict[str, SensorType]

    @classmethod
    def of(cls, sensors: Iterable[Sensor], types: Iterable[SensorType]) -> StaticCatalog:
        return cls({s.sensor_id: s for s in sensors}, {t.name: t for t in types})

    def lookup(self, sensor_id: str) -> tuple[Sensor, SensorType] | None:
        sensor = self.sensors.get(sensor_id)
        if sensor is None:
            return None
        return sensor, self.types[sensor.sensor_type]


@dataclass
class CachedCatalog:
    """Caches another catalog's answers for ttl_s, so ingest does not hit SQLite per reading.

    Misses are cached for a shorter time: a freshly registered sensor is accepted soon after.
    The cache holds at most `max_entries` answers, hits and misses alike, dropping the least
    recently used: clients choose the ids they ask about, so an unbounded cache of misses
    would let anyone grow the server's memory. An id that is not shaped like a sensor id is
    answered None without a lookup and is not cached at all.
    """

    inner: SensorCatalog
    ttl_s: float = 60.0
    miss_ttl_s: float = 5.0
    max_entries: int = 10_000
    _cache: OrderedDict[str, tuple[float, tuple[Sensor, SensorType] | None]] = field(
        default_factory=OrderedDict
    )
    # Ingest looks sensors up from many request threads; OrderedDict's reordering is not atomic.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lookup(self, sensor_id: str) -> tuple[Sensor, SensorType] | None:
        if not is_sensor_id(sensor_id):
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(sensor_id)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(sensor_id)
                return hit[1]
        # Outside the lock: one slow store query must not hold up every other request.
        found = self.inner.lookup(sensor_id)
        with self._lock:
            self._cache[sensor_id] = (now + (self.ttl_s if found else self.miss_ttl_s), found)
            self._cache.move_to_end(sensor_id)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._cache)


def _json_safe(value: Any) -> Any:
    """Values echoed back in rejections must survive JSON (nan/inf become strings) and stay
    small: long text is clipped, as is anything else whose repr is long."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        # JSON parses 10**4000 into an int as readily as 3: echo its start, not 4,000 digits.
        return clip(str(value), 40)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return clip(repr(value))


def validation_failed_from(
    err: ValidationError, raw: Mapping[str, Any], *, what: str = "a reading"
) -> ValidationFailed:
    """The first problem pydantic found, as a ValidationFailed naming field, value, expectation."""
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first["loc"]) or "reading"
    expected = str(first["msg"])
    for prefix in ("Input should be ", "Input should have ", "Value error, "):
        expected = expected.removeprefix(prefix)
    if first["type"] == "missing":
        expected = "present"
    elif first["type"] == "extra_forbidden":
        expected = f"absent (not a field of {what})"
    elif first["type"] == "timezone_aware":
        expected = "an ISO-8601 time with a timezone offset"
    elif first["type"] == "string_pattern_mismatch":
        expected = f"text matching {first.get('ctx', {}).get('pattern', 'its pattern')}"
    # Only an id shaped like one is named as the sensor: a made-up 2 kB id would otherwise be
    # repeated in the message, the rejection and the dead letter's key.
    claimed = raw.get("sensor_id")
    sensor_id = claimed if isinstance(claimed, str) and is_sensor_id(claimed) else None
    return ValidationFailed(loc, _json_safe(first.get("input")), expected, subject=sensor_id)


class ReadingValidator:
    """Turns raw mappings into Readings or raises ValidationFailed naming field, value, expectation."""

    def __init__(
        self,
        catalog: SensorCatalog,
        *,
        max_clock_skew_s: float = 300.0,
        max_age_days: float = 3650.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.catalog = catalog
        self.max_skew = timedelta(seconds=max_clock_skew_s)
        self.max_age = timedelta(days=max_age_days)
        self.clock = clock

    def validate(self, raw: Any) -> Reading:
        if not isinstance(raw, Mapping):
            raise ValidationFailed("reading", _json_safe(raw), "a JSON object")
        try:
            reading = Reading.model_validate(raw)
        except ValidationError as err:
            raise validation_failed_from(err, raw) from None
        self.check(reading)
        return reading

    def check(self, reading: Reading) -> None:
        """Context checks on an already well-formed reading."""
        sid = reading.sensor_id
        found = self.catalog.lookup(sid)
        if found is None:
            raise ValidationFailed("sensor_id", sid, "a registered sensor")
        _, stype = found
        for name, value in reading.channels.items():
            spec = stype.channels.get(name)
            if spec is None:
                raise ValidationFailed(
                    f"channels.{name}",
                    _json_safe(value),
                    f"one of the channels sensor type {stype.name} declares "
                    f"({', '.join(sorted(stype.channels))})",
                    subject=sid,
                )
            if not math.isfinite(value):
                raise ValidationFailed(
                    f"channels.{name}", _json_safe(value), "a finite number", subject=sid
                )
            if not spec.min <= value <= spec.max:
                raise ValidationFailed(
                    f"channels.{name}",
                    value,
                    f"within [{spec.min:g}, {spec.max:g}] {spec.unit}",
                    subject=sid,
                )
        for name, unit in (reading.units or {}).items():
            spec = stype.channels.get(name)
            if spec is None or canonical_unit(unit) != spec.unit:
                want = spec.unit if spec else f"a unit of a channel of sensor type {stype.name}"
                raise ValidationFailed(f"units.{name}", unit, want, subject=sid)
        now = self.clock()
        if reading.ts > now + self.max_skew:
            raise ValidationFailed(
                "ts",
                reading.ts.isoformat(),
                f"at most {self.max_skew.total_seconds():g}s ahead of server time "
                f"{now.isoformat(timespec='seconds')}",
                subject=sid,
            )
        if reading.ts < now - self.max_age:
            raise ValidationFailed(
                "ts",
                reading.ts.isoformat(),
                f"within the last {self.max_age.days} days",
                subject=sid,
            )

    def validate_batch(self, rows: Sequence[Any]) -> BatchResult:
        """Each row judged on its own; then, of readings sharing a (sensor_id, ts) with other
        values, all but the last are rejected as superseded.

        The store keeps one reading per identity and the later write wins, so an earlier
        reading of the same identity would be replaced without a word; its dead letter says
        which row replaced it. Identical duplicates (a resend) replace nothing and pass.
        """
        result = BatchResult()
        rows_of: dict[tuple[str, datetime], list[tuple[int, Reading]]] = {}
        for index, raw in enumerate(rows):
            try:
                reading = self.validate(raw)
            except ValidationFailed as err:
                result.rejected.append(rejection(index, err))
            else:
                rows_of.setdefault(reading.key(), []).append((index, reading))
        superseded = {}
        for same in rows_of.values():
            last_index, last = same[-1]
            for index, reading in same[:-1]:
                if reading != last:
                    superseded[index] = ValidationFailed(
                        "ts",
                        reading.ts.isoformat(),
                        "a time no other reading of this sensor in the batch has (row "
                        f"{last_index} has it with other values, and replaces this row)",
                        subject=reading.sensor_id,
                    )
        accepted = sorted(
            (i, r) for same in rows_of.values() for i, r in same if i not in superseded
        )
        result.accepted = [r for _, r in accepted]
        result.rejected += [rejection(i, err) for i, err in superseded.items()]
        result.rejected.sort(key=lambda rej: rej.index)
        return result


def rejection(index: int, err: ValidationFailed) -> Rejection:
    return Rejection(
        index=index,
        field=err.field,
        value=_json_safe(err.value),
        reason=str(err),
        sensor_id=err.subject,
    )
