"""Bounded hyper-parameter search for one candidate with Optuna, on the selection rows only.

A spec's candidate may declare a ``search`` space (detector parameters, the scoring policy's
opening and holding levels) and the spec a ``tuning`` budget. Each trial fits the candidate
through the scoring path and is judged on the first half of the held-out window, the same
rows on which candidates are chosen; the second half, where the chosen one meets the gate and
the champion, is never seen by the search. Optuna's TPE sampler is seeded, so a rerun on the
same data tries the same trials.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from sensorguard.specs import GatePolicy, SearchRange, TuningPolicy

Objective = Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class TuningResult:
    """The best trial's values and what the search tried."""

    best: dict[str, Any]
    best_value: float
    trials: int
    history: list[dict[str, Any]] = field(default_factory=list)


def suggest(trial: optuna.Trial, search: Mapping[str, SearchRange]) -> dict[str, Any]:
    """One trial's values for every searched name."""
    values: dict[str, Any] = {}
    for name, space in sorted(search.items()):
        if space.choices is not None:
            values[name] = trial.suggest_categorical(name, list(space.choices))
        elif space.integer:
            assert space.low is not None and space.high is not None  # checked by SearchRange
            values[name] = trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
        else:
            assert space.low is not None and space.high is not None
            values[name] = trial.suggest_float(name, space.low, space.high, log=space.log)
    return values


def tune(
    search: Mapping[str, SearchRange], policy: TuningPolicy, objective: Objective
) -> TuningResult:
    """Maximise ``objective`` over ``search`` within the trial and time budget."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=policy.seed)
    )
    history: list[dict[str, Any]] = []

    def run(trial: optuna.Trial) -> float:
        values = suggest(trial, search)
        score = objective(values)
        history.append({**values, "objective": score})
        return score

    study.optimize(run, n_trials=policy.trials, timeout=policy.timeout_s)
    return TuningResult(
        dict(study.best_params), float(study.best_value), len(study.trials), history
    )


def objective_value(report: Mapping[str, Any], policy: GatePolicy) -> float:
    """The gate's ranking as one number: its metric, then PR-AUC and F1 to break ties.

    A trial that misses one of the gate's floors (the false-alarm cap included) scores below
    every trial that passes them all: the search must not buy recall with alarms the gate
    would refuse.
    """
    from sensorguard.champion import floor_failures, rank_key

    primary, pr_auc, f1 = rank_key(report, policy.metric)
    value = primary + 1e-3 * pr_auc + 1e-6 * f1
    return value - 10.0 * len(floor_failures(report, policy))
