"""Bounded tuning: Optuna searches a candidate's declared space on the selection rows only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from training_helpers import FAST_SPECS

from sensorguard.errors import ConfigError
from sensorguard.simulate import Simulation
from sensorguard.specs import SearchRange, TuningPolicy, load_specs
from sensorguard.training.labels import LabelWindow
from sensorguard.training.tuning import tune


def test_the_search_stays_in_budget_and_is_repeatable() -> None:
    space = {"x": SearchRange(low=-3.0, high=3.0), "k": SearchRange(choices=("a", "b"))}

    def objective(values: dict[str, Any]) -> float:
        return -((values["x"] - 1.0) ** 2) + (0.5 if values["k"] == "b" else 0.0)

    first = tune(space, TuningPolicy(trials=25, seed=3), objective)
    again = tune(space, TuningPolicy(trials=25, seed=3), objective)
    assert first.trials == 25 and len(first.history) == 25
    assert first.best == again.best
    assert first.best["k"] == "b" and abs(first.best["x"] - 1.0) < 0.75
    assert all(-3.0 <= h["x"] <= 3.0 for h in first.history)


def write_spec(folder: Path, extra: str) -> Path:
    shutil.copytree(FAST_SPECS, folder)
    with (folder / "climate.yaml").open("a") as handle:
        handle.write(extra)
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "detectors:\n  - name: tail_max\n    search: {tails: {low: 0.01, high: 0.1}}\n",
            "climate.yaml: detectors[0]: search: detector 'tail_max' has no parameter 'tails'",
        ),
        (
            "detectors:\n  - name: tail_max\n    search: {tail: {low: 0.1, high: 0.01}}\n",
            "low must be below high, got low=0.1, high=0.01",
        ),
    ],
)
def test_a_bad_search_space_is_named(tmp_path: Path, extra: str, message: str) -> None:
    folder = write_spec(tmp_path / "specs", extra)
    with pytest.raises(ConfigError) as err:
        load_specs(folder)
    assert message in str(err.value)


def test_training_tunes_within_the_spec_budget(
    tmp_path: Path, fleet: Simulation, fleet_labels: list[LabelWindow]
) -> None:
    from sensorguard.pipelines.seed import seed_simulation
    from sensorguard.pipelines.training import run_training
    from sensorguard.settings import Settings
    from sensorguard.training.tracking import mlflow_client

    folder = write_spec(
        tmp_path / "specs",
        "detectors:\n  - name: tail_max\n    search:\n      tail: {low: 0.005, high: 0.05, log: true}\n"
        "      open_level: {low: 2.5, high: 4.0}\n"
        "tuning: {trials: 3, seed: 1}\n",
    )
    settings = Settings(data_dir=tmp_path / "sg", model_specs_dir=folder)
    seed_simulation(settings, fleet)
    outcome = run_training(settings, group="climate", end=fleet.end, labels=fleet_labels)[0]
    (candidate,) = outcome["evaluated"]["candidates"]
    client = mlflow_client(settings)
    run = client.get_run(candidate["run_id"])
    assert {"tuned.tail", "tuned.open_level"} <= set(run.data.params)
    trials = client.search_runs(
        [run.info.experiment_id], filter_string="tags.trial = 'true'", max_results=50
    )
    assert len(trials) == 3
    assert all("objective" in t.data.metrics for t in trials)
    tuned = float(run.data.params["tuned.open_level"])
    assert 2.5 <= tuned <= 4.0
    assert float(run.data.metrics["threshold"]) == pytest.approx(tuned)
