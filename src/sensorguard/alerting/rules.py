"""Alert rules: which sensors (a selector), what condition, how severe; loadable from YAML.

A rule is plain data, stored in the metadata database (``alert_rules``) and validated here:

.. code-block:: yaml

    name: hot-rooms
    severity: critical
    selector: {sensor_types: [climate], sites: [plant-1], tags: {floor: "2"}}
    condition:
      type: threshold          # threshold | anomaly | deadman
      channel: temperature
      above: 30                # and/or below
      for_s: 300               # the breach must last this long
      clear_margin: 1.0        # hysteresis: clears only 1 degree back inside

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

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore

RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


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


Condition = Annotated[
    ThresholdCondition | AnomalyCondition | DeadmanCondition, Field(discriminator="type")
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
