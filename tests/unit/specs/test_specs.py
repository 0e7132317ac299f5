"""Model specs: the shipped files load, defaults merge, errors name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorguard.errors import ConfigError, NotFound
from sensorguard.schemas import Sensor
from sensorguard.specs import deep_merge, group_for, load_specs, sensors_in_group
from sensorguard.transforms import feature_names

SHIPPED = Path(__file__).resolve().parents[3] / "models"

DEFAULTS = """
features: {windows: [5, 30], baseline: 60}
detectors:
  - name: hbos
  - name: iforest
    params: {n_estimators: 10}
training: {days: 7, eval_days: 1}
gate: {min_f1: 0.1, min_pr_auc: 0.2}
"""
CLIMATE = """
members: {sensor_types: [climate]}
channels: [temperature, humidity]
"""


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_shipped_specs_load_one_group_per_builtin_type() -> None:
    specs = load_specs(SHIPPED)
    assert set(specs) == {"climate", "acoustic", "environment"}
    for group, spec in specs.items():
        assert spec.members.sensor_types == (group,)
        names = feature_names(spec.feature_spec)
        assert all(any(n.startswith(f"{c}__") for n in names) for c in spec.channels)
        assert spec.registered_model == f"sensorguard-{group}"


def test_group_file_is_merged_over_defaults(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        defaults=DEFAULTS,
        climate=CLIMATE + "gate: {min_f1: 0.3}\nfeatures: {baseline: 30}\n"
        "detectors:\n  - name: ecod\n",
    )
    spec = load_specs(folder)["climate"]
    # Mappings merge key by key...
    assert spec.gate.min_f1 == 0.3
    assert spec.gate.min_pr_auc == 0.2
    assert spec.feature_spec.baseline == 30
    assert spec.feature_spec.windows == (5, 30)
    assert spec.training.days == 7
    # ...lists replace.
    assert [d.name for d in spec.detectors] == ["ecod"]


def test_deep_merge_keeps_base_untouched() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


@pytest.mark.parametrize(
    ("climate", "expected"),
    [
        (
            CLIMATE + "detectors:\n  - name: hbos\n  - name: iforrest\n",
            "climate.yaml: detectors[1].name: unknown detector 'iforrest' (known: ",
        ),
        (
            CLIMATE + "detectors:\n  - name: iforest\n    params: {n_trees: 5}\n",
            "climate.yaml: detectors[0]: detector 'iforest' has no parameter 'n_trees'",
        ),
        (CLIMATE + "gate: {min_f2: 0.5}\n", "climate.yaml: gate.min_f2: unknown field"),
        (
            CLIMATE + "scoring: {open_level: 2, hold_level: 3}\n",
            "climate.yaml: scoring: hold_level must be at most open_level (2), got 3",
        ),
        (CLIMATE + "features: {windows: [1, 5]}\n", "climate.yaml: features.windows: "),
        (
            "members: {sensor_types: [climate]}\nchannels: [temperature, sound_level]\n",
            "climate.yaml: channels: sensor type 'climate' has no channel 'sound_level'",
        ),
        (CLIMATE + "training: {days: 1, eval_days: 2}\n", "climate.yaml: training: "),
        ("channels: [temperature]\n", "climate.yaml: members: Field required"),
        (CLIMATE + "group: acoustic\n", "climate.yaml: group: must match the file name"),
        ("- just\n- a list\n", "climate.yaml: expected a mapping of fields, got list"),
        ("members: [unclosed\n", "climate.yaml: not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, climate: str, expected: str) -> None:
    folder = write(tmp_path / "models", defaults=DEFAULTS, climate=climate)
    with pytest.raises(ConfigError) as err:
        load_specs(folder)
    assert expected in str(err.value)


def test_yaml_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = write(
        tmp_path / "models",
        climate=CLIMATE + f"description: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_specs(folder)
    assert not marker.exists()


def test_two_groups_claiming_the_same_sensors_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "models", defaults=DEFAULTS, climate=CLIMATE, indoor=CLIMATE)
    with pytest.raises(ConfigError, match=r"already claimed by climate\.yaml"):
        load_specs(folder)


def test_a_tagged_group_takes_its_sensors_from_the_general_one(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "models",
        defaults=DEFAULTS,
        climate=CLIMATE,
        cold_rooms=CLIMATE.replace("[climate]}", "[climate], tags: {zone: cold}}"),
    )
    specs = load_specs(folder)
    plain = Sensor(sensor_id="th-1", sensor_type="climate", site="a")
    cold = Sensor(sensor_id="th-2", sensor_type="climate", site="a", tags={"zone": "cold"})
    # A sensor registered today is scored by its group's model from its first reading.
    assert group_for(plain, specs).group == "climate"
    assert group_for(cold, specs).group == "cold_rooms"
    assert [s.sensor_id for s in sensors_in_group([plain, cold], specs["climate"], specs)] == [
        "th-1"
    ]
    with pytest.raises(NotFound):
        group_for(Sensor(sensor_id="x-1", sensor_type="acoustic", site="a"), specs)


def test_spec_hash_follows_content(tmp_path: Path) -> None:
    first = load_specs(write(tmp_path / "a", defaults=DEFAULTS, climate=CLIMATE))["climate"]
    same = load_specs(write(tmp_path / "b", defaults=DEFAULTS, climate=CLIMATE))["climate"]
    other = load_specs(
        write(tmp_path / "c", defaults=DEFAULTS, climate=CLIMATE + "gate: {min_f1: 0.9}\n")
    )["climate"]
    assert first.spec_hash() == same.spec_hash() != other.spec_hash()


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_specs(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no group spec files"):
        load_specs(write(tmp_path / "empty", defaults=DEFAULTS))
