"""Training pipeline steps (train -> evaluate -> register -> gate), called by the CLI, DAGs and demo.

Each step takes and returns small JSON-able dicts (run ids, model URIs, metrics) so an Airflow
task can pass them on by XCom; `run_training` chains them in one process and hands the fitted
models and data along in memory instead of reloading them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sensorguard.errors import ConfigError, NotFound, SensorGuardError, ValidationFailed

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    from mlflow import MlflowClient

    from sensorguard.schemas import Sensor, SensorType
    from sensorguard.scoring import ScoringPolicy, Verdicts
    from sensorguard.settings import Settings
    from sensorguard.specs import DetectorChoice, ModelSpec
    from sensorguard.training.bundle import DetectorBundle
    from sensorguard.training.dataset import FeatureFetcher, GroupDataset
    from sensorguard.training.labels import LabelSet, LabelWindow

Source = Literal["store", "feast"]
Progress = Callable[[str], None]
HEADLINE_TAGS = (
    "precision",
    "recall",
    "f1",
    "pr_auc",
    "event_recall",
    "false_alarms_per_sensor_day",
    "mean_time_to_detect_s",
)


def _quiet(_: str) -> None:
    return None


@dataclass
class _Memory:
    """What a step hands the next one in process (never crosses an XCom)."""

    dataset: GroupDataset | None = None
    bundles: dict[str, DetectorBundle] = field(default_factory=dict)


class StepContext:
    """What the steps run in one process share: specs and sensors read once, one MLflow client."""

    def __init__(
        self, settings: Settings, progress: Progress = _quiet, actor: str = "training"
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.actor = actor  # whom the audit log credits with registry changes

    @cached_property
    def specs(self) -> dict[str, ModelSpec]:
        from sensorguard.specs import load_configured_specs

        return load_configured_specs(self.settings)

    @cached_property
    def client(self) -> MlflowClient:
        from sensorguard.training.tracking import mlflow_client

        return mlflow_client(self.settings)

    @cached_property
    def sensors(self) -> list[Sensor]:
        from sensorguard.wiring import open_configured_metadata

        metadata = open_configured_metadata(self.settings)
        try:
            return metadata.list_sensors()
        finally:
            metadata.close()

    @cached_property
    def sensor_types(self) -> list[SensorType]:
        from sensorguard.wiring import open_configured_metadata

        metadata = open_configured_metadata(self.settings)
        try:
            return metadata.list_sensor_types()
        finally:
            metadata.close()

    def ranges(self, spec: ModelSpec) -> dict[str, tuple[float, float]]:
        """Each channel's physical range: the widest over the group's sensor types."""
        out: dict[str, tuple[float, float]] = {}
        for sensor_type in self.sensor_types:
            if sensor_type.name not in spec.members.sensor_types:
                continue
            for name, channel in sensor_type.channels.items():
                lo, hi = out.get(name, (channel.min, channel.max))
                out[name] = (min(lo, channel.min), max(hi, channel.max))
        return out

    def spec(self, group: str) -> ModelSpec:
        if group not in self.specs:
            raise NotFound("model group", group, known=self.specs)
        return self.specs[group]

    def sensor_ids(self, spec: ModelSpec) -> list[str]:
        """Registered sensors the group's model scores (see `specs.group_for`)."""
        from sensorguard.specs import sensors_in_group

        return [s.sensor_id for s in sensors_in_group(self.sensors, spec, self.specs)]

    def groups(self, group: str | None = None) -> list[str]:
        """`group` if given (checked), else every spec with registered sensors.

        A spec whose sensor type has no registered sensor yet is skipped, not an error: the
        models/ folder may describe devices that are not installed anywhere.
        """
        if group is not None:
            self.spec(group)
            return [group]
        return [name for name, spec in sorted(self.specs.items()) if self.sensor_ids(spec)]


def parse_time(text: str | None, name: str = "end") -> datetime | None:
    """An ISO time with a timezone from a CLI option or DAG param; None stays None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(name, text, "an ISO time with a timezone")
    return moment


def training_groups(settings: Settings, group: str | None = None) -> list[str]:
    """The groups a run trains (see `StepContext.groups`)."""
    return StepContext(settings).groups(group)


def group_sensor_ids(settings: Settings, spec: ModelSpec) -> list[str]:
    """Registered sensors the group's model scores (see `specs.group_for`)."""
    return StepContext(settings).sensor_ids(spec)


def load_labels(
    settings: Settings,
    labels_path: str | Path | None = None,
    *,
    faults: Sequence[LabelWindow] | None = None,
) -> LabelSet | None:
    """What is known about the rows training reads: the one home of "the labels".

    Fault windows are `faults` if given (the simulator's), else those of `labels_path` or
    the configured labels file; operators' verdicts on alerts (`sensorguard alerts labels`)
    are merged in (see `LabelSet.merged`). None when there is neither: nothing can be
    evaluated.
    """
    from sensorguard.alerting.store import AlertStore
    from sensorguard.training.labels import LabelSet, read_labels_csv

    if faults is None:
        path = Path(labels_path) if labels_path else settings.labels_path
        if path is not None:
            if not path.exists():
                raise ConfigError(f"{path}: labels file does not exist")
            faults = read_labels_csv(path)
    store = AlertStore.from_settings(settings)
    try:
        verdicts = store.labels.find()
    finally:
        store.close()
    if faults is None and not verdicts:
        return None
    return LabelSet.merged(faults or (), verdicts)


def _load_dataset(
    ctx: StepContext,
    spec: ModelSpec,
    *,
    end: datetime,
    days: float | None,
    source: Source,
) -> GroupDataset:
    from sensorguard.training.dataset import load_group_dataset
    from sensorguard.wiring import open_configured_store

    fetch: FeatureFetcher | None = None
    if source == "feast":
        from sensorguard.featurestore import historical_features

        fetch = partial(historical_features, ctx.settings)
    store = open_configured_store(ctx.settings)
    try:
        return load_group_dataset(
            store,
            spec,
            ctx.sensor_ids(spec),
            end=end,
            days=days,
            fetch_features=fetch,
            ranges=ctx.ranges(spec),
        )
    finally:
        store.close()


def _record_spec(settings: Settings, spec: ModelSpec) -> int:
    """Store the resolved spec in the metadata DB; its version goes up when the content changes."""
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(settings)
    try:
        record = metadata.put_model_spec(
            spec.group, spec.group, spec.model_dump(mode="json"), actor="training"
        )
    finally:
        metadata.close()
    return record.version


def _snapshot(settings: Settings, dataset: GroupDataset) -> dict[str, Any]:
    """Write the training rows (keys, readings, features) as Parquet: the drift reference."""
    fingerprint = dataset.fingerprint()
    folder = settings.data_dir / "snapshots" / dataset.group
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"train-{fingerprint}.parquet"
    train = dataset.train_mask
    if not path.exists():
        frame = dataset.readings[train].join(dataset.features[train])
        frame.to_parquet(path, index=False)
    return {
        "path": str(path.absolute()),
        "rows": int(train.sum()),
        "sha256_16": fingerprint,
        "sensors": len(dataset.sensor_ids),
    }


def _train(
    ctx: StepContext,
    group: str,
    *,
    end: datetime | None,
    days: float | None,
    source: Source,
    trigger_reason: str,
    memory: _Memory,
    labels: LabelSet | None = None,
) -> dict[str, Any]:
    import mlflow

    from sensorguard.schemas import utc_now
    from sensorguard.training.labels import LabelSet
    from sensorguard.training.tracking import ensure_experiment

    spec = ctx.spec(group)
    end = end or utc_now()
    ctx.progress(f"{group}: reading readings and features ({source})")
    dataset = _load_dataset(ctx, spec, end=end, days=days, source=source)
    memory.dataset = dataset
    snapshot = _snapshot(ctx.settings, dataset)
    spec_version = _record_spec(ctx.settings, spec)
    # The client also points MLflow's fluent API (start_run, log_model) at the configured URI.
    experiment_id = ensure_experiment(ctx.client, ctx.settings, group)
    train = dataset.train_mask.to_numpy()
    features = dataset.features[train]
    example = dataset.readings[dataset.readings["sensor_id"] == dataset.sensor_ids[0]].head(5)
    window = {
        "start": dataset.start.isoformat(),
        "split": dataset.split.isoformat(),
        "end": dataset.end.isoformat(),
    }
    candidates: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"train-{group}-{end:%Y%m%dT%H%M}",
        tags={"sensorguard.group": group, "trigger_reason": trigger_reason},
    ) as parent:
        mlflow.log_params(
            {
                "group": group,
                "spec_hash": spec.spec_hash(),
                "source": source,
                "window_start": window["start"],
                "window_split": window["split"],
                "window_end": window["end"],
                "sensors": len(dataset.sensor_ids),
                "train_rows": snapshot["rows"],
                "eval_rows": int((~train).sum()),
                "snapshot_path": snapshot["path"],
                "snapshot_hash": snapshot["sha256_16"],
                "spec_version": spec_version,
            }
        )
        mlflow.log_dict(spec.model_dump(mode="json"), "spec.json")
        mlflow.log_dict({"features": list(features.columns)}, "features.json")
        mlflow.log_dict(snapshot, "training_snapshot.json")
        for choice in spec.detectors:
            ctx.progress(f"{group}: fitting {choice.label} on {len(features):,} rows")
            try:
                candidates.append(
                    _fit_candidate(
                        spec,
                        choice,
                        dataset,
                        labels or LabelSet(),
                        example,
                        snapshot,
                        experiment_id,
                        memory,
                    )
                )
            except Exception as err:  # one broken candidate must not sink its siblings
                # The nested run is already marked FAILED by its context manager.
                ctx.progress(f"{group}: {choice.label} failed: {type(err).__name__}: {err}")
                failed.append({"detector": choice.label, "error": f"{type(err).__name__}: {err}"})
        mlflow.set_tag("failed_candidates", len(failed))
    if not candidates:
        raise SensorGuardError(
            f"every candidate of group {group} failed: "
            + "; ".join(f"{f['detector']}: {f['error']}" for f in failed)
        )
    return {
        "group": group,
        "experiment_id": experiment_id,
        "parent_run_id": parent.info.run_id,
        "source": source,
        "days": days,
        "window": window,
        "spec_hash": spec.spec_hash(),
        "spec_version": spec_version,
        "trigger_reason": trigger_reason,
        "snapshot": snapshot,
        "features": list(features.columns),
        "candidates": candidates,
        "failed": failed,
    }


def _fit_candidate(
    spec: ModelSpec,
    choice: DetectorChoice,
    dataset: GroupDataset,
    labels: LabelSet,
    example: pd.DataFrame,
    snapshot: dict[str, Any],
    experiment_id: str,
    memory: _Memory,
) -> dict[str, str]:
    """Fit one candidate in its own nested run: params, calibration, pyfunc model."""
    import mlflow

    from sensorguard.training.bundle import fit_bundle
    from sensorguard.training.pyfunc import log_bundle

    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"{spec.group}-{choice.label}",
        nested=True,
        tags={"sensorguard.group": spec.group, "detector": choice.label},
    ) as run:
        mlflow.log_params(
            {
                "detector": choice.name,
                **{f"param.{k}": v for k, v in choice.params.items()},
                **{f"scoring.{k}": v for k, v in spec.scoring.model_dump().items()},
                "spec_hash": spec.spec_hash(),
                "feature_count": len(dataset.features.columns),
                "snapshot_path": snapshot["path"],
                "snapshot_rows": snapshot["rows"],
                "snapshot_hash": snapshot["sha256_16"],
            }
        )
        policy = spec.scoring
        if choice.search and spec.tuning.trials:
            choice, policy = _tune_candidate(spec, choice, dataset, labels, experiment_id)
        bundle = fit_bundle(spec, choice, dataset, labels, policy)
        mlflow.log_metrics(
            {
                "threshold": bundle.threshold,
                "fit_seconds": float(bundle.info["fit_seconds"]),
                "fit_rows": float(bundle.info["fit_rows"]),
                "calibration_rows": float(bundle.info["calibration_rows"]),
                "left_out_rows": float(bundle.info["left_out_rows"]),
            }
        )
        mlflow.log_dict({"features": bundle.feature_names}, "features.json")
        mlflow.log_dict(spec.model_dump(mode="json"), "spec.json")
        info = log_bundle(bundle, example)
        memory.bundles[run.info.run_id] = bundle
        return {"run_id": run.info.run_id, "model_uri": info.model_uri, "detector": choice.label}


def _tune_candidate(
    spec: ModelSpec,
    choice: DetectorChoice,
    dataset: GroupDataset,
    labels: LabelSet,
    experiment_id: str,
) -> tuple[DetectorChoice, ScoringPolicy]:
    """Search the candidate's space on the selection rows; each trial is a nested MLflow run.

    Returns the candidate with the best trial's detector parameters and the scoring policy
    with its levels. Nothing of the comparison half of the held-out window is looked at.
    """
    import mlflow

    from sensorguard.scoring import ScoringPolicy
    from sensorguard.specs import SEARCHABLE_POLICY
    from sensorguard.training.bundle import fit_bundle
    from sensorguard.training.tuning import objective_value, tune

    window_labels = labels.in_span(dataset.split, dataset.end)
    keys = dataset.readings.loc[dataset.eval_mask, ["sensor_id", "ts"]]
    grace = spec.evaluation.grace_s

    def split(values: dict[str, Any]) -> tuple[DetectorChoice, ScoringPolicy]:
        levels = {k: v for k, v in values.items() if k in SEARCHABLE_POLICY}
        params = {k: v for k, v in values.items() if k not in SEARCHABLE_POLICY}
        merged = {**spec.scoring.model_dump(), **levels}
        merged["hold_level"] = min(merged["hold_level"], merged["open_level"])
        tried = choice.model_copy(update={"params": {**choice.params, **params}, "search": {}})
        return tried, ScoringPolicy(**merged)

    def objective(values: dict[str, Any]) -> float:
        tried, policy = split(values)
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{spec.group}-{choice.label}-trial",
            nested=True,
            tags={"sensorguard.group": spec.group, "detector": choice.label, "trial": "true"},
        ):
            mlflow.log_params(values)
            bundle = fit_bundle(spec, tried, dataset, labels, policy)
            verdicts = _eval_verdicts(bundle, dataset)
            selection = _halves(keys, verdicts, window_labels, grace, dataset)["selection"]
            score = objective_value(selection, spec.gate)
            mlflow.log_metrics(
                {
                    "objective": score,
                    **{
                        f"selection_{k}": float(v)
                        for k, v in selection.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)
                    },
                }
            )
            return score

    result = tune(choice.search, spec.tuning, objective)
    mlflow.log_params({f"tuned.{k}": v for k, v in result.best.items()})
    mlflow.log_metrics({"tuning_best_objective": result.best_value, "tuning_trials": result.trials})
    return split(result.best)


def train_group(
    settings: Settings,
    group: str,
    *,
    end: str | None = None,
    days: float | None = None,
    source: Source = "store",
    trigger_reason: str = "manual",
) -> dict[str, Any]:
    """Fit every candidate of the group's spec; log runs and pyfunc models; return their ids.

    Training rows inside the configured labels' fault windows are left out of the fit.
    """
    return _train(
        StepContext(settings),
        group,
        end=parse_time(end),
        days=days,
        source=source,
        trigger_reason=trigger_reason,
        memory=_Memory(),
        labels=load_labels(settings),
    )


def _eval_verdicts(bundle: DetectorBundle, dataset: GroupDataset) -> Verdicts:
    """Verdicts of the evaluation rows, scored as the stream would score them.

    Each sensor's whole history (training rows first) goes through the scoring path, so the
    episode state at the first evaluation row is the one a live scorer would have; features
    come from the dataset when the bundle's spec matches, else the bundle computes its own.
    """
    evaluate = dataset.eval_mask.to_numpy()
    features = dataset.features if bundle.feature_spec == dataset.feature_spec else None
    verdicts = bundle.model.score_frame(dataset.readings, features)
    return verdicts.subset(evaluate)


def _log_evaluation(
    client: MlflowClient,
    run_id: str,
    title: str,
    keys: pd.DataFrame,
    truth: npt.NDArray[np.int8],
    verdicts: Verdicts,
    labels: Sequence[LabelWindow],
    report: dict[str, Any],
) -> None:
    from sensorguard.training.evaluate import flat_metrics
    from sensorguard.training.plots import pr_curve, score_timeline

    for key, value in flat_metrics(report).items():
        client.log_metric(run_id, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "evaluation.json").write_text(json.dumps(report, indent=2, default=str))
        client.log_artifact(run_id, str(folder / "evaluation.json"))
        timeline = score_timeline(
            keys,
            verdicts.score,
            verdicts.flag,
            verdicts.threshold,
            labels,
            folder / "score_over_time.png",
            title=title,
        )
        client.log_artifact(run_id, str(timeline), "plots")
        curve = pr_curve(truth, verdicts.score, folder / "pr_curve.png", title=title)
        if curve is not None:
            client.log_artifact(run_id, str(curve), "plots")


def _evaluate(
    ctx: StepContext,
    trained: dict[str, Any],
    labels: LabelSet | None,
    memory: _Memory,
) -> dict[str, Any]:
    from sensorguard.champion import champion_uri, champion_version
    from sensorguard.training.evaluate import evaluate_verdicts, flat_metrics
    from sensorguard.training.labels import row_truth
    from sensorguard.training.pyfunc import load_bundle

    group = trained["group"]
    result = {**trained, "labelled": labels is not None, "champion": None}
    if labels is None:
        ctx.progress(f"{group}: no labels: candidates are registered unvalidated")
        result["candidates"] = [{**c, "metrics": None} for c in trained["candidates"]]
        return result
    spec = ctx.spec(group)
    dataset = memory.dataset
    if dataset is None:
        ctx.progress(f"{group}: reloading the evaluation data")
        dataset = _load_dataset(
            ctx,
            spec,
            end=datetime.fromisoformat(trained["window"]["end"]),
            days=trained["days"],
            source=trained["source"],
        )
        memory.dataset = dataset
    window_labels = labels.in_span(dataset.split, dataset.end)
    keys = dataset.readings.loc[dataset.eval_mask, ["sensor_id", "ts"]]
    truth = row_truth(keys, window_labels.faults)
    grace = spec.evaluation.grace_s
    # Creating the client also points MLflow's fluent API (load_bundle) at the configured URI.
    client = ctx.client
    evaluated = []
    for candidate in trained["candidates"]:
        ctx.progress(f"{group}: evaluating {candidate['detector']}")
        bundle = memory.bundles.get(candidate["run_id"]) or load_bundle(candidate["model_uri"])
        verdicts = _eval_verdicts(bundle, dataset)
        report = evaluate_verdicts(
            keys, verdicts.score, verdicts.flag, verdicts.kind, window_labels, grace_s=grace
        )
        _log_evaluation(
            client,
            candidate["run_id"],
            f"{group} {candidate['detector']}",
            keys,
            truth,
            verdicts,
            window_labels.faults,
            report,
        )
        halves = _halves(keys, verdicts, window_labels, grace, dataset)
        for half, metrics in halves.items():
            for key, value in metrics.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    client.log_metric(candidate["run_id"], f"{half}_{key}", float(value))
        evaluated.append({**candidate, "metrics": _headline(report), "report": report, **halves})
    current = champion_version(client, group)
    if current is not None:
        ctx.progress(f"{group}: re-scoring champion v{current.version} on the same rows")
        bundle = load_bundle(champion_uri(group))
        verdicts = _eval_verdicts(bundle, dataset)
        report = evaluate_verdicts(
            keys, verdicts.score, verdicts.flag, verdicts.kind, window_labels, grace_s=grace
        )
        client.log_dict(
            trained["parent_run_id"],
            {"version": str(current.version), "report": report},
            "champion_rescored.json",
        )
        for key, value in flat_metrics(report).items():
            client.log_metric(trained["parent_run_id"], f"champion_{key}", value)
        result["champion"] = {
            "version": str(current.version),
            "detector": (current.tags or {}).get("detector", ""),
            "metrics": _headline(report),
            "report": report,
            **_halves(keys, verdicts, window_labels, grace, dataset),
        }
    result["candidates"] = evaluated
    result["events"] = len(window_labels.faults)
    result["false_alarm_verdicts"] = len(window_labels.normal)
    result["maintenance_windows"] = len(window_labels.excluded)
    return result


def _halves(
    keys: pd.DataFrame,
    verdicts: Verdicts,
    labels: LabelSet,
    grace: float,
    dataset: GroupDataset,
) -> dict[str, dict[str, Any]]:
    """Headline metrics on the first half of the evaluation window (where candidates are
    chosen) and on the second (where the chosen one is judged and meets the champion).

    Picking the best of N on the same rows that then judge it flatters it: part of its lead
    is luck on those rows. The second half is rows no choice has seen.
    """
    import numpy as np

    from sensorguard.training.evaluate import evaluate_verdicts

    # Split at the median reading time, not the window's middle: the data may end early.
    times = keys["ts"].to_numpy(dtype="datetime64[ns]")
    middle = np.sort(times)[len(times) // 2] if len(times) else None
    second = times >= middle if middle is not None else np.zeros(0, dtype=bool)
    out = {}
    for name, rows in (("selection", ~second), ("comparison", second)):
        if not rows.any():
            raise ValidationFailed(
                f"{name} rows", 0, "readings in both halves of the evaluation window"
            )
        report = evaluate_verdicts(
            keys[rows],
            verdicts.score[rows],
            verdicts.flag[rows],
            verdicts.kind[rows],
            labels,
            grace_s=grace,
        )
        out[name] = _headline(report)
    return out


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    keep = (
        *HEADLINE_TAGS,
        "events",
        "detected",
        "unobservable_events",
        "rows",
        "positives",
        "confirmed_false_alarms",
        "confirmed_false_alarms_flagged",
    )
    return {
        **{k: report.get(k) for k in keep},
        "per_kind_recall": {k: v["recall"] for k, v in report["per_kind"].items()},
    }


def evaluate_group(
    settings: Settings, trained: dict[str, Any], *, labels_path: str | None = None
) -> dict[str, Any]:
    """Score each candidate (and the current champion) on the held-out rows; log metrics, plots."""
    labels = load_labels(settings, labels_path)
    return _small(_evaluate(StepContext(settings), trained, labels, _Memory()))


def _small(result: dict[str, Any]) -> dict[str, Any]:
    """Drop the full per-row-derived reports before an XCom: headline metrics suffice."""
    slim = {
        **result,
        "candidates": [{k: v for k, v in c.items() if k != "report"} for c in result["candidates"]],
    }
    if slim.get("champion"):
        slim["champion"] = {k: v for k, v in slim["champion"].items() if k != "report"}
    return slim


def register_group(
    settings: Settings, evaluated: dict[str, Any], *, actor: str = "training"
) -> dict[str, Any]:
    """Register every candidate as a version of `sensorguard-<group>`, tagged with its evidence."""
    return _register(StepContext(settings, actor=actor), evaluated)


def _register(ctx: StepContext, evaluated: dict[str, Any]) -> dict[str, Any]:
    from sensorguard.champion import (
        METRIC_TAG_PREFIX,
        RegistryChange,
        audit_registry_changes,
        register_candidate,
    )

    group = evaluated["group"]
    window = evaluated["window"]
    feature_list: list[str] = evaluated["features"]
    registered = []
    for candidate in evaluated["candidates"]:
        metrics = candidate.get("metrics") or {}
        tags: dict[str, object] = {
            "group": group,
            "detector": candidate["detector"],
            "validation_status": "pending" if metrics else "unvalidated",
            "training_window": f"{window['start']}/{window['split']}",
            "evaluation_window": f"{window['split']}/{window['end']}",
            "feature_list": ",".join(feature_list),
            "feature_count": len(feature_list),
            "trigger_reason": evaluated["trigger_reason"],
            "spec_hash": evaluated["spec_hash"],
            "spec_version": evaluated["spec_version"],
            "training_snapshot": evaluated["snapshot"]["path"],
            "training_rows": evaluated["snapshot"]["rows"],
            "source": evaluated["source"],
        }
        for key in HEADLINE_TAGS:
            if metrics.get(key) is not None:
                tags[METRIC_TAG_PREFIX + key] = metrics[key]
        for kind, recall in (metrics.get("per_kind_recall") or {}).items():
            tags[f"{METRIC_TAG_PREFIX}recall_{kind}"] = recall
        version = register_candidate(
            ctx.client, group, candidate["model_uri"], candidate["run_id"], tags
        )
        registered.append({**candidate, "version": version})
    audit_registry_changes(
        ctx.settings,
        ctx.actor,
        [
            RegistryChange(
                "model.register",
                group,
                c["version"],
                outcome="registered",
                reason=evaluated["trigger_reason"],
            )
            for c in registered
        ],
    )
    return {**evaluated, "candidates": registered}


def promote_group(
    settings: Settings, registered: dict[str, Any], *, actor: str = "training"
) -> dict[str, Any]:
    """The quality gate: tag each version's validation status; move @champion if one wins."""
    return _promote(StepContext(settings, actor=actor), registered)


def _promote(ctx: StepContext, registered: dict[str, Any]) -> dict[str, Any]:
    from dataclasses import replace

    from sensorguard.champion import (
        Candidate,
        RegistryChange,
        audit_registry_changes,
        champion_version,
        decide,
        promote,
        set_challenger,
        set_tags,
    )

    client = ctx.client
    group = registered["group"]
    current = champion_version(client, group)
    current_version = None if current is None else str(current.version)
    base = {
        "group": group,
        "promoted": False,
        "champion_version": current_version,
        "previous_version": None,
        "versions": [c["version"] for c in registered["candidates"]],
    }
    if not registered.get("labelled"):
        return {**base, "reasons": ["no labelled evaluation data: nothing can be promoted"]}
    champion = registered.get("champion")
    if champion and current_version != champion["version"]:
        raise ValidationFailed(
            "champion",
            current_version,
            f"v{champion['version']} (the version re-scored at evaluation; re-run the evaluation)",
        )
    candidates = [
        Candidate(c["version"], c["detector"], c["comparison"], c["selection"])
        for c in registered["candidates"]
    ]
    decision = decide(
        candidates,
        (champion["version"], champion["comparison"]) if champion else None,
        ctx.spec(group).gate,
    )
    for candidate in candidates:
        problems = decision.failures.get(candidate.version, [])
        status = "failed" if problems else "passed"
        tags: dict[str, object] = {"validation_status": status}
        if problems:
            tags["validation_failures"] = "; ".join(problems)
        if decision.best is not None and candidate.version == decision.best.version:
            tags["gate"] = ("promoted: " if decision.promote else "not promoted: ") + "; ".join(
                decision.reasons
            )
        if champion:
            tags["compared_with_champion"] = champion["version"]
        set_tags(client, group, candidate.version, tags)
    previous = None
    gate = ctx.spec(group).gate
    if (
        decision.promote
        and decision.best is not None
        and gate.shadow_hours > 0
        and current_version is not None
    ):
        # Live evidence first: the winner is shadow-scored beside the champion (a group
        # without a champion has nothing to compare with, and gets its first one at once).
        reason = "; ".join(decision.reasons)
        winner = decision.best.version
        set_challenger(client, group, winner, reason=reason)
        set_tags(client, group, winner, {"gate": f"challenger: {reason}"})
        decision = replace(
            decision,
            promote=False,
            reasons=[
                *decision.reasons,
                f"v{winner} is @challenger: shadow-scored for "
                f"{gate.shadow_hours:g} h before `sensorguard models promote {group} "
                "--challenger` may promote it",
            ],
        )
        audit_registry_changes(
            ctx.settings,
            ctx.actor,
            [
                RegistryChange(
                    "model.challenger",
                    group,
                    winner,
                    "challenger",
                    former=current_version,
                    reason=reason,
                )
            ],
        )
    if decision.promote and decision.best is not None:
        previous = promote(client, group, decision.best.version, reason="; ".join(decision.reasons))
        current_version = decision.best.version
    change = RegistryChange(
        "model.promote",
        group,
        decision.best.version if decision.best else None,
        outcome="promoted" if decision.promote else "not promoted",
        former=previous if decision.promote else current_version,
        reason="; ".join(decision.reasons),
    )
    audit_registry_changes(ctx.settings, ctx.actor, [change])
    return {
        **base,
        "promoted": decision.promote,
        "best_version": decision.best.version if decision.best else None,
        "best_detector": decision.best.detector if decision.best else None,
        "metric": decision.metric,
        "best_score": decision.best_score,
        "champion_score_before": decision.champion_score,
        "champion_version": current_version,
        "previous_version": previous,
        "reasons": decision.reasons,
    }


def run_training(
    settings: Settings,
    *,
    group: str | None = None,
    end: datetime | None = None,
    days: float | None = None,
    source: Source = "store",
    labels_path: str | Path | None = None,
    labels: Sequence[LabelWindow] | None = None,
    trigger_reason: str = "manual",
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Train, evaluate, register and gate every group (or one) in this process.

    `labels` (fault windows, e.g. the simulator's) replace the labels file; operators'
    verdicts are merged in either way (:func:`load_labels`).
    """
    ctx = StepContext(settings, progress or _quiet)
    known = load_labels(settings, labels_path, faults=labels)
    outcomes = []
    for name in ctx.groups(group):
        memory = _Memory()
        trained = _train(
            ctx,
            name,
            end=end,
            days=days,
            source=source,
            trigger_reason=trigger_reason,
            memory=memory,
            labels=known,
        )
        evaluated = _evaluate(ctx, trained, known, memory)
        ctx.progress(f"{name}: registering {len(evaluated['candidates'])} candidates")
        registered = _register(ctx, _small(evaluated))
        decision = _promote(ctx, registered)
        ctx.progress(f"{name}: " + "; ".join(decision["reasons"]))
        outcomes.append({"evaluated": evaluated, "registered": registered, "decision": decision})
    return outcomes
