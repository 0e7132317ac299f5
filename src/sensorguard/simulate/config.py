"""What a simulation is asked for (SimulationConfig) and what it injected (FaultKind, FaultLabel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, SensorId, utc_now

BUILTIN_TYPE_NAMES: tuple[str, ...] = tuple(t.name for t in BUILTIN_SENSOR_TYPES)

# sensors x time steps; beyond this the float64 arrays alone would take gigabytes.
MAX_CELLS = 20_000_000


class FaultKind(StrEnum):
    """The kinds of fault the simulator injects."""

    SPIKE = "spike"
    LEVEL_SHIFT = "level_shift"
    DRIFT = "drift"
    STUCK = "stuck"
    DROPOUT = "dropout"
    NOISE_BURST = "noise_burst"
    OUT_OF_RANGE = "out_of_range"


class SimulationConfig(BaseModel):
    """What to simulate. With a fixed start, the same config always gives byte-identical data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensors: int = Field(12, ge=1, le=9999, description="Number of sensors in the fleet.")
    sites: int = Field(3, ge=1, description="Number of sites the sensors are spread over.")
    days: float = Field(3.0, gt=0, le=366, description="Length of the simulated span in days.")
    interval_s: int = Field(60, ge=1, le=86_400, description="Seconds between two readings.")
    start: AwareDatetime | None = Field(
        None,
        description="Time of the first reading. Default: now, truncated to the interval, minus "
        "the span, so the last reading is one interval old and passes clock-skew checks.",
    )
    seed: int = Field(7, ge=0, description="Seed of every random draw.")
    fault_rate: float = Field(1.0, ge=0, le=100, description="Expected faults per sensor-day.")
    fault_kinds: tuple[FaultKind, ...] = Field(
        tuple(FaultKind), min_length=1, description="Kinds of fault to inject."
    )
    sensor_types: tuple[str, ...] = Field(
        BUILTIN_TYPE_NAMES, min_length=1, description="Built-in sensor types, mixed round-robin."
    )

    @field_validator("start")
    @classmethod
    def _whole_seconds_utc(cls, start: datetime | None) -> datetime | None:
        # Whole seconds keep every timestamp exactly representable in the CSV and on the wire.
        return None if start is None else start.astimezone(UTC).replace(microsecond=0)

    @field_validator("fault_kinds")
    @classmethod
    def _unique_kinds(cls, kinds: tuple[FaultKind, ...]) -> tuple[FaultKind, ...]:
        return tuple(dict.fromkeys(kinds))

    @field_validator("sensor_types")
    @classmethod
    def _builtin_types(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in BUILTIN_TYPE_NAMES]
        if unknown:
            raise ValueError(
                f"sensor types must be among {', '.join(BUILTIN_TYPE_NAMES)}, got {', '.join(unknown)}"
            )
        return tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _sizes(self) -> SimulationConfig:
        if self.sites > self.sensors:
            raise ValueError(f"sites must be at most sensors ({self.sensors}), got {self.sites}")
        if self.n_steps < 1:
            raise ValueError(
                f"the span ({self.days:g} days) must hold at least one interval of {self.interval_s}s"
            )
        if self.sensors * self.n_steps > MAX_CELLS:
            raise ValueError(
                f"sensors x readings per sensor must be at most {MAX_CELLS:,}, got "
                f"{self.sensors} x {self.n_steps} = {self.sensors * self.n_steps:,}"
            )
        return self

    @property
    def n_steps(self) -> int:
        """Readings per sensor before dropouts."""
        return round(self.days * 86_400) // self.interval_s

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.n_steps * self.interval_s)

    def resolved_start(self, now: datetime | None = None) -> datetime:
        """The configured start, or the default one computed from `now` (the clock if None)."""
        if self.start is not None:
            return self.start
        epoch = int((now or utc_now()).timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.interval_s, UTC) - self.span


class FaultLabel(BaseModel):
    """One injected fault: on which sensor and channel, of what kind, over [start, end).

    `magnitude` depends on the kind: the offset added (spike, level_shift), the offset reached
    at the end of the ramp (drift), the value held (stuck), the standard deviation of the added
    noise (noise_burst), the value reported (out_of_range); None for dropout.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fault_id: int = Field(ge=0)
    sensor_id: SensorId
    channel: str | None = Field(description="None for dropout: whole readings are missing.")
    kind: FaultKind
    start: AwareDatetime
    end: AwareDatetime
    magnitude: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FaultLabel:
        if self.end <= self.start:
            raise ValueError(f"end must be after start {self.start.isoformat()}, got {self.end}")
        if (self.channel is None) != (self.kind is FaultKind.DROPOUT):
            raise ValueError(
                f"channel must be None exactly for dropout faults, got {self.channel!r} for {self.kind}"
            )
        return self
