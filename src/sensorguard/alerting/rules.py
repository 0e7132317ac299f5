"""Alert rules: which sensors (a selector), what condition, how severe; loadable from YAML.

A rule is plain data, stored in the metadata database (``alert_rules``) and validated here:

.. code-block:: yaml

    name: hot-rooms
    severity: critical
    selector: {sensor_types: [climate], sites: [plant-1], tags: {floor: "2"}}
    condition:
      type: threshold          # see the condition types below
      channel: temperature
      above: 30                # and/or below
      for_s: 300               # the breach must last this long
      clear_margin: 1.0        # hysteresis: clears only 1 degree back inside

Condition types, each alerting per sensor unless it says otherwise:

- ``threshold``: a channel outside [below, above] (readings).
- ``anomaly``: the group model flags a fault episode, optionally of some kinds (scores).
- ``deadman``: no reading for ``silent_minutes`` (the engine's timer).
- ``data_quality``: the share of a sensor's messages dead-lettered over a sliding window
  above ``max_rejected_ratio`` (readings and ``sensor-data-dlq``).
- ``consumer_lag``: a consumer group more than ``max_records`` behind the end of its topics
  (the timer). Per group, not per sensor: the alert's sensor_id is ``consumer-group/<group>``.
- ``model_quality``: a model group's fault episodes per sensor-day over a window above
  ``max_ratio`` times the false-alarm rate its champion was validated at (scores). Per group:
  the alert's sensor_id is ``model-group/<group>``.

Conditions are evaluated by :mod:`sensorguard.alerting.engine`; this module only says what
they mean and refuses a malformed one naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from sensorguard.alerting.records import Severity
from sensorguard.errors import ConfigError
from sensorguard.schemas import Sensor
from sensorguard.specs import GroupName
from sensorguard.stream.base import ALL_TOPICS

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore

RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
# What a process passes to Stream.consumer (the Kafka backend adds its namespace itself).
ConsumerGroup = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class Selector(BaseModel):
    """Which sensors a rule watches; every list given must match, an empty selector takes all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensors: tuple[str, ...] = ()
    sensor_types: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)

    def matches(self, sensor: Sensor) -> bool:
        return (
            (not self.sensors or sensor.sensor_id in self.sensors)
            and (not self.sensor_types or sensor.sensor_type in self.sensor_types)
            and (not self.sites or sensor.site in self.sites)
            and all(sensor.tags.get(k) == v for k, v in self.tags.items())
        )


class ThresholdCondition(BaseModel):
    """A channel outside [below, above] for at least ``for_s``; clears ``clear_margin`` inside."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["threshold"] = "threshold"
    channel: str
    above: float | None = None
    below: float | None = None
    for_s: float = Field(0.0, ge=0)
    clear_margin: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> ThresholdCondition:
        if self.above is None and self.below is None:
            raise ValueError("give above, below or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"below ({self.below}) must be less than above ({self.above})")
        return self

    def breached(self, value: float) -> bool:
        return (self.above is not None and value > self.above) or (
            self.below is not None and value < self.below
        )

    def cleared(self, value: float) -> bool:
        """Back inside by the margin (hysteresis: a value hovering at the limit does not flap)."""
        return (self.above is None or value <= self.above - self.clear_margin) and (
            self.below is None or value >= self.below + self.clear_margin
        )


class AnomalyCondition(BaseModel):
    """Flagged scores for at least ``min_duration_s`` (optionally only of some fault kinds);
    resolved after ``clear_after_s`` without a flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["anomaly"] = "anomaly"
    kinds: tuple[str, ...] = ()
    min_duration_s: float = Field(0.0, ge=0)
    clear_after_s: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _known_kinds(self) -> AnomalyCondition:
        from sensorguard.scoring.episodes import Kind

        known = {k.value for k in Kind} | {"flagged"}
        unknown = [k for k in self.kinds if k not in known]
        if unknown:
            raise ValueError(
                f"kinds: {unknown[0]!r} is not a fault kind ({', '.join(sorted(known))})"
            )
        return self

    def matches(self, flag: bool, kind: str) -> bool:
        return flag and (not self.kinds or kind in self.kinds)


class DeadmanCondition(BaseModel):
    """No reading from the sensor for ``silent_minutes`` (checked on a timer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["deadman"] = "deadman"
    silent_minutes: float = Field(gt=0)


class DataQualityCondition(BaseModel):
    """More than ``max_rejected_ratio`` of a sensor's messages dead-lettered within the last
    ``window_s`` for at least ``for_s``; judged only once the window holds ``min_messages``,
    and cleared ``clear_margin`` under the ratio.

    A message is an accepted reading (timed by its ``ts``) or a dead letter naming the sensor
    (timed by ``received_at``: a refused payload may have no usable ``ts``). Both clocks agree
    for a fleet reporting live; a backfill of old readings is counted where its ``ts`` falls.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["data_quality"] = "data_quality"
    max_rejected_ratio: float = Field(gt=0, lt=1)
    window_s: float = Field(600.0, gt=0)
    min_messages: int = Field(20, ge=1)
    for_s: float = Field(0.0, ge=0)
    clear_margin: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _margin_below_ratio(self) -> DataQualityCondition:
        if self.clear_margin > self.max_rejected_ratio:
            raise ValueError(
                f"clear_margin ({self.clear_margin:g}) must be at most max_rejected_ratio "
                f"({self.max_rejected_ratio:g}), or the alert could never clear"
            )
        return self

    def breached(self, ratio: float) -> bool:
        return ratio > self.max_rejected_ratio

    def cleared(self, ratio: float) -> bool:
        return ratio <= self.max_rejected_ratio - self.clear_margin


class ConsumerLagCondition(BaseModel):
    """Consumer ``group`` more than ``max_records`` behind the end of ``topics`` (summed over
    their partitions) for at least ``for_s``; checked on the engine's timer, cleared at the
    first check back within the limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["consumer_lag"] = "consumer_lag"
    group: ConsumerGroup
    topics: tuple[str, ...] = Field(min_length=1)
    max_records: int = Field(ge=0)
    for_s: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _known_topics(self) -> ConsumerLagCondition:
        unknown = [t for t in self.topics if t not in ALL_TOPICS]
        if unknown:
            raise ValueError(
                f"topics: {unknown[0]!r} is not a data-path topic ({', '.join(ALL_TOPICS)})"
            )
        return self


class ModelQualityCondition(BaseModel):
    """Model ``group``'s fault episodes per sensor-day within the last ``window_s`` above
    ``max_ratio`` times its expected false alarms per sensor-day, for at least ``for_s``;
    judged once the window holds ``min_sensor_days`` of verdicts, cleared ``clear_margin``
    under the ratio.

    ``expected_false_alarms_per_sensor_day`` defaults to what the champion was validated at
    (the ``metric.false_alarms_per_sensor_day`` tag of its registry version, read when the
    engine starts). Live episodes include real faults, so the expected rate is a floor: a
    ratio far above it means drift, or a fault across the group; either way, look.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["model_quality"] = "model_quality"
    group: GroupName
    max_ratio: float = Field(ge=1)
    window_s: float = Field(86_400.0, gt=0)
    min_sensor_days: float = Field(1.0, gt=0)
    for_s: float = Field(0.0, ge=0)
    clear_margin: float = Field(0.0, ge=0)
    expected_false_alarms_per_sensor_day: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _margin_below_ratio(self) -> ModelQualityCondition:
        if self.clear_margin >= self.max_ratio:
            raise ValueError(
                f"clear_margin ({self.clear_margin:g}) must be less than max_ratio "
                f"({self.max_ratio:g}), or the alert could never clear"
            )
        return self

    def breached(self, ratio: float) -> bool:
        return ratio > self.max_ratio

    def cleared(self, ratio: float) -> bool:
        return ratio <= self.max_ratio - self.clear_margin


Condition = Annotated[
    ThresholdCondition
    | AnomalyCondition
    | DeadmanCondition
    | DataQualityCondition
    | ConsumerLagCondition
    | ModelQualityCondition,
    Field(discriminator="type"),
]


class AlertRule(BaseModel):
    """One rule: a name, a selector, a condition, a severity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: RuleName
    description: str = ""
    severity: Severity = "warning"
    selector: Selector = Selector()
    condition: Condition
    enabled: bool = True

    @model_validator(mode="after")
    def _selector_applies(self) -> AlertRule:
        if isinstance(self.condition, ConsumerLagCondition) and self.selector != Selector():
            raise ValueError(
                "selector: a consumer_lag rule watches a consumer group, not sensors; "
                "leave the selector out"
            )
        return self

    def definition(self) -> dict[str, Any]:
        """What the metadata store keeps (everything but the name and the enabled flag)."""
        return self.model_dump(mode="json", exclude={"name", "enabled"})

    @classmethod
    def from_record(cls, name: str, definition: Mapping[str, Any], enabled: bool) -> AlertRule:
        return parse_rule({**definition, "name": name, "enabled": enabled}, source=f"rule {name}")


def _describe(err: ValidationError) -> str:
    problems = []
    for item in err.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"] if not str(p).endswith("Condition"))
        problems.append(f"{where or 'rule'}: {item['msg']} (got {item.get('input')!r})")
    return "; ".join(problems)


def parse_rule(data: Mapping[str, Any], *, source: str) -> AlertRule:
    """A rule from plain data; ConfigError names the source and the field."""
    try:
        return AlertRule.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(f"{source}: {_describe(err)}") from None


def load_rules_file(path: Path) -> list[AlertRule]:
    """Rules of a YAML file: one rule, a list of rules, or ``{rules: [...]}``."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read alert rules: {err}") from None
    items: Sequence[Any]
    if isinstance(data, dict) and "rules" in data:
        items = data["rules"]
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    rules = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: rule {i + 1} must be a mapping, got {item!r}")
        rules.append(parse_rule(item, source=f"{path} rule {i + 1} ({item.get('name', '?')})"))
    names = [r.name for r in rules]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{path}: rule {duplicate!r} is defined twice")
    return rules


def load_rules_dir(directory: Path) -> list[AlertRule]:
    """Every ``*.yaml`` rule file of a folder, in name order."""
    return [rule for path in sorted(directory.glob("*.yaml")) for rule in load_rules_file(path)]


def stored_rules(metadata: MetadataStore) -> list[AlertRule]:
    """The rules kept in the metadata database, enabled or not."""
    return [
        AlertRule.from_record(r.name, r.definition, r.enabled) for r in metadata.list_alert_rules()
    ]
