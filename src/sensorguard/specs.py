"""Model specs: `models/defaults.yaml` deep-merged with one YAML file per sensor group, validated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from sensorguard.errors import ConfigError, NotFound
from sensorguard.scoring.policy import ScoringPolicy

if TYPE_CHECKING:
    from sensorguard.schemas import Sensor
    from sensorguard.settings import Settings
    from sensorguard.transforms import FeatureSpec

DEFAULTS_FILE = "defaults.yaml"
REGISTERED_MODEL_PREFIX = "sensorguard-"

GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Metric = Literal["f1", "pr_auc", "event_recall"]


# Policy knobs a search may vary besides the detector's own parameters.
SEARCHABLE_POLICY = ("open_level", "hold_level")


class SearchRange(BaseModel):
    """One searched value: a numeric range (``low``..``high``, ``log`` scale) or ``choices``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either non-empty choices or low and high, not both")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


class DetectorChoice(BaseModel):
    """One candidate: a registry detector name and parameters overriding the registry defaults.

    ``search`` (optional) names parameters to tune within ranges, detector parameters or the
    scoring policy's ``open_level`` / ``hold_level``; the spec's ``tuning`` sets the budget.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, SearchRange] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        from sensorguard.detectors import REGISTRY, available_detectors

        if name.lower() not in REGISTRY:
            raise ValueError(
                f"unknown detector {name!r} (known: {', '.join(available_detectors())})"
            )
        return name.lower()

    @model_validator(mode="after")
    def _params_accepted(self) -> DetectorChoice:
        if not self.params:
            return self
        # Importing the detector class is the only way to know its parameters; it happens when
        # a spec is loaded by a command, never at CLI start-up or DAG parse time.
        from sensorguard.detectors import detector_params

        accepted = detector_params(self.name)
        unknown = sorted(set(self.params) - set(accepted))
        if unknown:
            raise ValueError(
                f"detector {self.name!r} has no parameter {unknown[0]!r} "
                f"(it accepts: {', '.join(accepted)})"
            )
        return self

    @model_validator(mode="after")
    def _search_accepted(self) -> DetectorChoice:
        if not self.search:
            return self
        from sensorguard.detectors import detector_params

        accepted = [*detector_params(self.name), *SEARCHABLE_POLICY]
        unknown = sorted(set(self.search) - set(accepted))
        if unknown:
            raise ValueError(
                f"search: detector {self.name!r} has no parameter {unknown[0]!r} "
                f"(searchable: {', '.join(accepted)})"
            )
        return self

    @property
    def label(self) -> str:
        """A short readable id: the name plus its overridden parameters."""
        if not self.params:
            return self.name
        extras = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({extras})"


class TuningPolicy(BaseModel):
    """The budget of the bounded search over candidates' ``search`` spaces (0 trials = off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(0, ge=0, le=500)
    timeout_s: float = Field(300.0, gt=0)
    seed: int = 0


class TrainingWindow(BaseModel):
    """How much history a training run reads; the last `eval_days` of it are held out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: float = Field(14.0, gt=0, le=366)
    eval_days: float = Field(1.0, gt=0)
    min_train_rows: int = Field(200, ge=10)

    @model_validator(mode="after")
    def _eval_inside(self) -> TrainingWindow:
        if self.eval_days >= self.days:
            raise ValueError(
                f"eval_days must be less than days ({self.days:g}), got {self.eval_days:g}"
            )
        return self


class EvaluationPolicy(BaseModel):
    """How flags are matched with labelled faults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Window features stay disturbed for up to the longest window after a fault ends; flags in
    # that tail are the fault's echo, not false alarms.
    grace_s: float = Field(0.0, ge=0)


class GatePolicy(BaseModel):
    """When a candidate may replace the champion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Metric = "f1"
    min_f1: float = Field(0.0, ge=0, le=1)
    min_pr_auc: float = Field(0.0, ge=0, le=1)
    min_event_recall: float = Field(0.0, ge=0, le=1)
    # Capped by default: a spec that forgets the cap must not promote a model that pages
    # users all day. An explicit null lifts the cap; with one set, an unknown rate fails.
    max_false_alarms_per_sensor_day: float | None = Field(2.0, ge=0)
    min_improvement: float = Field(0.0, ge=0)
    # > 0: a winner becomes @challenger and is shadow-scored on live data for this many hours;
    # `sensorguard models promote GROUP --challenger` then promotes it if its would-be alerts
    # stay within max_false_alarms_per_sensor_day. 0: promote on the offline evaluation alone.
    shadow_hours: float = Field(0.0, ge=0)


class DriftPolicy(BaseModel):
    """When a group's recent data counts as drifted from its champion's training data.

    Checked by `sensorguard drift check` and the `check_drift` DAG. A feature column's drift
    score is Evidently's normed Wasserstein distance (how far its distribution moved, in
    standard deviations of the training rows); the score shift is the same distance on the
    champion's scores; the flag-rate ratio compares the share of flagged readings now with
    the share on the training rows. Any one limit passed counts as drift.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    window_hours: float = Field(24.0, gt=0, le=24 * 31)
    # Fewer current readings than this: the check is skipped, not judged on noise.
    min_rows: int = Field(500, ge=1)
    # A feature column drifted when its normed Wasserstein distance is at least this; day-to-
    # day variation of window statistics reaches ~0.3 on the simulated fleet.
    column_threshold: float = Field(0.5, gt=0)
    max_drifted_share: float = Field(0.3, gt=0, le=1)
    # None: not judged.
    max_score_shift: float | None = Field(0.5, gt=0)
    # None: not judged. Only a rise counts: fewer flags may just mean fewer faults.
    max_flag_rate_ratio: float | None = Field(3.0, gt=1)
    # The reference (training rows) is sampled down to this many rows for the report.
    reference_rows: int = Field(20_000, ge=100, le=1_000_000)
    # After a drift-triggered retraining, no other one for this long: a gate that keeps the
    # old champion must not make every check retrain again on the same drift.
    cooldown_hours: float = Field(24.0, ge=0)


class FeedbackPolicy(BaseModel):
    """When operators' false-alarm verdicts on a group's alerts call for retraining.

    Checked by `sensorguard feedback check` and the `check_drift` DAG: the false-alarm
    verdicts on the group's sensors given since its champion was registered (an alert's
    latest verdict counts, once) against ``false_alarms_to_retrain``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # None: verdicts never trigger a retraining (training still reads them).
    false_alarms_to_retrain: int | None = Field(5, ge=1)
    # As the drift policy's: a gate that keeps the old champion must not make every check
    # retrain again on the same verdicts.
    cooldown_hours: float = Field(24.0, ge=0)


class Membership(BaseModel):
    """Which sensors a group's model scores: by sensor type, optionally narrowed by tags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_types: tuple[str, ...] = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)

    def matches(self, sensor: Sensor) -> bool:
        return sensor.sensor_type in self.sensor_types and all(
            sensor.tags.get(k) == v for k, v in self.tags.items()
        )


class ModelSpec(BaseModel):
    """Everything needed to train, judge and promote the model of one sensor group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: GroupName
    description: str = ""
    members: Membership
    channels: tuple[str, ...] = Field(min_length=1)
    # FeatureSpec fields other than `channels`; validated by building the FeatureSpec.
    features: dict[str, Any] = Field(default_factory=dict)
    detectors: tuple[DetectorChoice, ...] = Field(min_length=1)
    scoring: ScoringPolicy = ScoringPolicy()
    tuning: TuningPolicy = TuningPolicy()
    training: TrainingWindow = TrainingWindow()
    evaluation: EvaluationPolicy = EvaluationPolicy()
    gate: GatePolicy = GatePolicy()
    drift: DriftPolicy = DriftPolicy()
    feedback: FeedbackPolicy = FeedbackPolicy()
    schedule: str | None = "@daily"

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        from sensorguard.schemas import BUILTIN_SENSOR_TYPES

        if "channels" in self.features:
            raise ValueError("features.channels: set the group's channels at the top level")
        builtin = {t.name: t for t in BUILTIN_SENSOR_TYPES}
        for type_name in self.members.sensor_types:
            known = builtin.get(type_name)
            missing = [c for c in self.channels if known is not None and c not in known.channels]
            if known is not None and missing:
                raise ValueError(
                    f"channels: sensor type {type_name!r} has no channel {missing[0]!r} "
                    f"(it reports: {', '.join(known.channels)})"
                )
        labels = [d.label for d in self.detectors]
        duplicate = next((lab for lab in labels if labels.count(lab) > 1), None)
        if duplicate:
            raise ValueError(f"detectors: {duplicate!r} is listed twice")
        self.feature_spec  # noqa: B018  (fail now, naming the field, not at training time)
        return self

    @cached_property
    def feature_spec(self) -> FeatureSpec:
        from sensorguard.transforms import FeatureSpec

        try:
            return FeatureSpec(channels=self.channels, **self.features)
        except ValidationError as err:
            raise ValueError(_describe(err, prefix="features")) from None

    @property
    def registered_model(self) -> str:
        return registered_model_name(self.group)

    def spec_hash(self) -> str:
        """A short content hash: equal specs train equal candidates.

        The drift and feedback policies are left out: they decide when to retrain, not what
        is trained.
        """
        text = json.dumps(
            self.model_dump(mode="json", exclude={"drift", "feedback"}), sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def registered_model_name(group: str) -> str:
    return f"{REGISTERED_MODEL_PREFIX}{group}"


def default_specs_dir(settings: Settings | None = None) -> Path:
    """The configured spec folder, else `models/` of the source checkout."""
    if settings is not None and settings.model_specs_dir is not None:
        return settings.model_specs_dir
    return Path(__file__).resolve().parents[2] / "models"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`: mappings merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _loc(parts: Iterable[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(err: ValidationError, *, prefix: str = "") -> str:
    problems = []
    for item in err.errors(include_url=False):
        loc = _loc([prefix, *item["loc"]] if prefix else item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        # Model-level checks name their field inside the message already.
        problems.append(f"{loc}: {message}" if loc else message)
    return "; ".join(problems)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(raw).__name__}")
    return raw


def parse_spec(
    group_file: Path, defaults: Mapping[str, Any], *, display: str | None = None
) -> ModelSpec:
    """One group file on top of the defaults; errors read `FILE: field.path: problem`."""
    shown = display or str(group_file)
    raw = _read_yaml(group_file)
    declared = raw.get("group", group_file.stem)
    if declared != group_file.stem:
        raise ConfigError(
            f"{shown}: group: must match the file name {group_file.stem!r}, got {declared!r}"
        )
    merged = deep_merge(defaults, {**raw, "group": group_file.stem})
    try:
        return ModelSpec.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(f"{shown}: {_describe(err)}") from None
    except ValueError as err:  # raised by a cached property during validation
        raise ConfigError(f"{shown}: {err}") from None


def load_specs(directory: Path | None = None) -> dict[str, ModelSpec]:
    """Every group spec in `directory` (default: the checkout's `models/`), keyed by group.

    Plain data only: YAML is read with `safe_load`, nothing is executed.
    """
    directory = directory or default_specs_dir()
    if not directory.is_dir():
        raise ConfigError(f"{directory}: model spec folder does not exist")
    defaults_path = directory / DEFAULTS_FILE
    defaults = _read_yaml(defaults_path) if defaults_path.exists() else {}
    if "group" in defaults:
        raise ConfigError(f"{defaults_path}: group: belongs in a group file, not the defaults")
    specs: dict[str, ModelSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == DEFAULTS_FILE:
            continue
        specs[path.stem] = parse_spec(path, defaults, display=_display(path))
    if not specs:
        raise ConfigError(f"{directory}: no group spec files (*.yaml besides {DEFAULTS_FILE})")
    _check_disjoint(specs, directory)
    return specs


def _display(path: Path) -> str:
    """`models/climate.yaml` rather than an absolute path, when the file is under the cwd."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def _check_disjoint(specs: Mapping[str, ModelSpec], directory: Path) -> None:
    """Two groups with the same sensor type and the same tag filter would fight over sensors."""
    claimed: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for group, spec in specs.items():
        tags = tuple(sorted(spec.members.tags.items()))
        for type_name in spec.members.sensor_types:
            other = claimed.setdefault((type_name, tags), group)
            if other != group:
                raise ConfigError(
                    f"{directory.name}/{group}.yaml: members: sensor type {type_name!r} with tags "
                    f"{dict(tags)} is already claimed by {other}.yaml"
                )


def load_configured_specs(settings: Settings) -> dict[str, ModelSpec]:
    return load_specs(default_specs_dir(settings))


def group_for(sensor: Sensor, specs: Mapping[str, ModelSpec]) -> ModelSpec:
    """The group whose model scores `sensor`: the matching spec with the most tag conditions.

    A sensor installed today is scored by its group's model from its first reading on.
    """
    matching = [s for s in specs.values() if s.members.matches(sensor)]
    if not matching:
        raise NotFound("model group for sensor", sensor.sensor_id)
    matching.sort(key=lambda s: len(s.members.tags), reverse=True)
    return matching[0]


def sensors_in_group(
    sensors: Iterable[Sensor], spec: ModelSpec, specs: Mapping[str, ModelSpec]
) -> list[Sensor]:
    """The sensors whose group (by :func:`group_for`) is `spec`'s, sorted by id."""
    chosen = []
    for sensor in sensors:
        if not spec.members.matches(sensor):
            continue
        if group_for(sensor, specs).group == spec.group:
            chosen.append(sensor)
    return sorted(chosen, key=lambda s: s.sensor_id)
