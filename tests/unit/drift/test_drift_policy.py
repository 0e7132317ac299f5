"""The `drift:` policy of the model specs: shipped defaults, validation naming file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from drift_helpers import ROOT

from sensorguard.errors import ConfigError
from sensorguard.specs import DriftPolicy, load_specs


def test_shipped_specs_carry_the_default_policy() -> None:
    specs = load_specs(ROOT / "models")
    for spec in specs.values():
        assert spec.drift == DriftPolicy()
    policy = DriftPolicy()
    assert policy.window_hours == 24 and policy.min_rows == 500
    assert 0 < policy.max_drifted_share <= 1 and policy.max_flag_rate_ratio == 3


def _specs_with(tmp_path: Path, drift_yaml: str) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(ROOT / "models", folder)
    climate = folder / "climate.yaml"
    climate.write_text(climate.read_text() + drift_yaml)
    return folder


@pytest.mark.parametrize(
    ("drift_yaml", "message"),
    [
        (
            "drift: {max_drifted_share: 1.5}\n",
            "drift.max_drifted_share: Input should be less than or equal to 1",
        ),
        (
            "drift: {max_flag_rate_ratio: 0.5}\n",
            "drift.max_flag_rate_ratio: Input should be greater than 1",
        ),
        ("drift: {window_hours: 0}\n", "drift.window_hours: Input should be greater than 0"),
        ("drift: {max_shift: 1}\n", "drift.max_shift: unknown field"),
    ],
)
def test_a_bad_policy_names_the_file_and_field(
    tmp_path: Path, drift_yaml: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=r"climate\.yaml: ") as err:
        load_specs(_specs_with(tmp_path, drift_yaml))
    assert message in str(err.value)


def test_a_group_overrides_single_fields_and_the_training_hash_ignores_them(tmp_path: Path) -> None:
    shipped = load_specs(ROOT / "models")["climate"]
    tuned = load_specs(_specs_with(tmp_path, "drift: {window_hours: 6, max_score_shift: null}\n"))[
        "climate"
    ]
    assert tuned.drift.window_hours == 6 and tuned.drift.max_score_shift is None
    assert tuned.drift.min_rows == shipped.drift.min_rows
    # The drift policy decides when to retrain, not what a training run fits.
    assert tuned.spec_hash() == shipped.spec_hash()
