"""Wire and domain models: sensor types, sensors, readings, scores, batch results."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# A sensor id travels as an MQTT topic level and a Kafka key: no '/', '+', '#' or spaces.
SensorId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
_SENSOR_ID: TypeAdapter[str] = TypeAdapter(SensorId)


def _number(noun: str) -> Callable[[Any], Any]:
    """A check that lets numbers of any kind (numpy's too) through, and not text or bools."""

    def check(value: Any) -> Any:
        # Lax pydantic takes `true` as 1 and "21.5" as 21.5: a device sending the wrong type
        # would have its bug stored as data.
        if isinstance(value, bool | str | bytes):
            kind = "true/false" if isinstance(value, bool) else "text"
            raise PydanticCustomError("number_type", f"{noun}, not {{kind}}", {"kind": kind})
        return value

    return check


Measurement = Annotated[float, BeforeValidator(_number("a JSON number"))]
Count = Annotated[int, BeforeValidator(_number("a JSON integer"))]


def is_sensor_id(value: str) -> bool:
    """Whether `value` is shaped like a sensor id (SensorId), decided without any lookup."""
    try:
        _SENSOR_ID.validate_python(value)
    except ValidationError:
        return False
    return True


# Spellings people send for the built-in units; anything else must match the declared unit exactly.
UNIT_ALIASES: dict[str, str] = {
    "c": "°C",
    "°c": "°C",
    "degc": "°C",
    "celsius": "°C",
    "%rh": "%RH",
    "%": "%RH",
    "rh": "%RH",
    "db(a)": "dB(A)",
    "dba": "dB(A)",
}


def canonical_unit(unit: str) -> str:
    """The canonical spelling of a unit (aliases folded, case kept for unknown units)."""
    return UNIT_ALIASES.get(unit.strip().lower(), unit.strip())


def to_utc_ms(ts: datetime) -> datetime:
    """UTC, truncated to the millisecond: the identity precision every backend can keep."""
    ts = ts.astimezone(UTC)
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)


def _utc_ms_field(ts: datetime) -> datetime:
    """to_utc_ms for a model field: a time that has no UTC date is a validation error."""
    try:
        return to_utc_ms(ts)
    except OverflowError:
        # 0001-01-01T00:00+05:00 is year 0 in UTC, which datetime cannot hold: unchecked, the
        # OverflowError escaped validation and the ingest door answered 500.
        raise ValueError("a time whose UTC date lies within years 1 to 9999") from None


class ChannelSpec(BaseModel):
    """One numeric channel of a sensor type: its unit and physically plausible range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: str
    min: float
    max: float
    description: str = ""

    @model_validator(mode="after")
    def _range_ordered(self) -> ChannelSpec:
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min < self.max):
            raise ValueError(f"range must be finite with min < max, got [{self.min}, {self.max}]")
        object.__setattr__(self, "unit", canonical_unit(self.unit))
        return self


class SensorType(BaseModel):
    """A kind of device and the channels it reports."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    channels: dict[ChannelName, ChannelSpec] = Field(min_length=1)
    description: str = ""


TEMPERATURE = ChannelSpec(unit="°C", min=-40.0, max=85.0, description="air temperature")
HUMIDITY = ChannelSpec(unit="%RH", min=0.0, max=100.0, description="relative humidity")
SOUND_LEVEL = ChannelSpec(unit="dB(A)", min=0.0, max=140.0, description="A-weighted sound level")

BUILTIN_SENSOR_TYPES: tuple[SensorType, ...] = (
    SensorType(
        name="climate",
        channels={"temperature": TEMPERATURE, "humidity": HUMIDITY},
        description="temperature and humidity",
    ),
    SensorType(name="acoustic", channels={"sound_level": SOUND_LEVEL}, description="sound level"),
    SensorType(
        name="environment",
        channels={"temperature": TEMPERATURE, "humidity": HUMIDITY, "sound_level": SOUND_LEVEL},
        description="temperature, humidity and sound level in one device",
    ),
)


class Sensor(BaseModel):
    """A registered device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: SensorId
    sensor_type: str
    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    location: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    installed_on: date | None = None


class Reading(BaseModel):
    """One measurement event of one sensor. Identity: (sensor_id, ts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: SensorId
    ts: AwareDatetime
    # Pydantic documents a dict of patterned keys as patternProperties only, which lets any
    # other key through; additionalProperties says what validation does: no other key.
    channels: dict[ChannelName, Measurement] = Field(
        min_length=1, json_schema_extra={"additionalProperties": False}
    )
    units: dict[ChannelName, str] | None = Field(
        None, json_schema_extra={"additionalProperties": False}
    )
    seq: Count | None = Field(None, ge=0)

    @field_validator("ts")
    @classmethod
    def _utc_ms(cls, ts: datetime) -> datetime:
        return _utc_ms_field(ts)

    def key(self) -> tuple[str, datetime]:
        return (self.sensor_id, self.ts)


class Score(BaseModel):
    """A model's verdict on one reading (what the stream scorer stores and publishes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: SensorId
    ts: AwareDatetime
    score: float = Field(
        description="surprise: -log10 of the chance that a normal reading is this unusual"
    )
    flag: bool = Field(description="inside a fault episode")
    threshold: float = Field(description="the surprise that opens an episode")
    model: str = Field(description="registered model name")
    model_version: str
    kind: str = Field("", description="the fault kind a flagged episode looks like")
    contributions: dict[str, float] = Field(
        default_factory=dict, description="top sources (channels, 'timing') of a flag, shares"
    )

    @field_validator("ts")
    @classmethod
    def _utc_ms(cls, ts: datetime) -> datetime:
        return _utc_ms_field(ts)


class Rejection(BaseModel):
    """Why one row of a batch was refused."""

    model_config = ConfigDict(frozen=True)

    index: int
    field: str
    value: Any = None
    reason: str
    sensor_id: str | None = None


class Problem(BaseModel):
    """The JSON body of a refusal (4xx, 503): one sentence naming what was expected, what came."""

    detail: str


class BatchResult(BaseModel):
    """Outcome of validating a batch row by row: good rows pass, bad rows carry reasons."""

    accepted: list[Reading] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)


def utc_now() -> datetime:
    return datetime.now(UTC)
