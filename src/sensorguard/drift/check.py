"""One group's drift check: champion's training rows vs the recent window, report, MLflow run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sensorguard.drift.records import TRIGGER_PREFIX, DriftCheck

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sensorguard.drift.measure import DriftMeasures
    from sensorguard.pipelines.training import StepContext
    from sensorguard.settings import Settings

# Not "sensorguard-drift": group experiments are "sensorguard-<group>" and "drift" is a valid
# group name; a dot can never be part of one.
DRIFT_EXPERIMENT = "sensorguard.drift"


def drift_report_dir(settings: Settings) -> Path:
    """Where the HTML reports are written (one file per group and check)."""
    return settings.data_dir / "reports" / "drift"


def _experiment_id(client: MlflowClient, settings: Settings) -> str:
    from sensorguard.training.tracking import artifact_root

    existing = client.get_experiment_by_name(DRIFT_EXPERIMENT)
    if existing is not None:
        return str(existing.experiment_id)
    return str(
        client.create_experiment(
            DRIFT_EXPERIMENT,
            artifact_location=f"{artifact_root(settings).rstrip('/')}/{DRIFT_EXPERIMENT}",
        )
    )


def recent_retraining(
    client: MlflowClient, group: str, since: datetime, trigger_prefix: str = TRIGGER_PREFIX
) -> str | None:
    """The run id of a training run of `group` started since `since` whose trigger_reason
    starts with `trigger_prefix` (a drift or a feedback retraining), if any: the cooldown
    every retraining trigger shares."""
    from sensorguard.training.tracking import experiment_name

    experiment = client.get_experiment_by_name(experiment_name(group))
    if experiment is None:
        return None
    # LIKE treats % and _ as wildcards; the prefixes are fixed words ending in ": ".
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.trigger_reason LIKE '{trigger_prefix}%' "
            f"AND attributes.start_time >= {int(since.timestamp() * 1000)}"
        ),
        max_results=1,
    )
    # Nested candidate runs carry no trigger_reason tag, so only parent runs match.
    return runs[0].info.run_id if runs else None


def check_group(
    ctx: StepContext,
    group: str,
    *,
    end: datetime,
    hours: float | None = None,
) -> DriftCheck:
    """Check one group: skipped without a champion or with too few current readings."""
    from dataclasses import replace

    from sensorguard.champion import champion_uri, champion_version
    from sensorguard.drift.frames import median_interval_s, reference_frame, window_frame
    from sensorguard.drift.measure import judge, measure_drift
    from sensorguard.schemas import utc_now
    from sensorguard.training.pyfunc import load_bundle
    from sensorguard.wiring import open_configured_store

    spec = ctx.spec(group)
    policy = spec.drift
    start = end - timedelta(hours=hours if hours is not None else policy.window_hours)
    base = DriftCheck(group=group, status="skipped", window_start=start, window_end=end)
    if not policy.enabled:
        return replace(base, reasons=("drift checks are disabled in the spec",))
    client = ctx.client
    version = champion_version(client, group)
    if version is None:
        return replace(base, reasons=("no @champion to compare with",))
    ctx.progress(f"{group}: loading champion v{version.version}")
    bundle = load_bundle(champion_uri(group))
    tags = dict(version.tags or {})
    ids = ctx.sensor_ids(spec)
    store = open_configured_store(ctx.settings)
    try:
        reference, source = reference_frame(
            tags, bundle, store=store, sensor_ids=ids, max_rows=policy.reference_rows
        )
        current = window_frame(
            store, ids, bundle, start, end, interval_s=median_interval_s(reference)
        )
    finally:
        store.close()
    base = replace(base, champion_version=str(version.version))
    if len(current) < policy.min_rows:
        return replace(
            base,
            reference_rows=len(reference),
            current_rows=len(current),
            reasons=(
                f"{len(current)} readings in the window, fewer than min_rows {policy.min_rows}",
            ),
        )
    stamp = end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    html = drift_report_dir(ctx.settings) / f"{group}-{stamp}.html"
    ctx.progress(
        f"{group}: comparing {len(current):,} recent rows with {len(reference):,} training rows"
    )
    measures = measure_drift(reference, current, bundle.feature_names, policy, html_path=html)
    drifted, reasons = judge(measures, policy)
    retrain = drifted
    extra: dict[str, object] = {"reference_source": source}
    if drifted and policy.cooldown_hours > 0:
        # Wall-clock time: a backfilled check (an `end` in the past) must not retrain twice.
        since = utc_now() - timedelta(hours=policy.cooldown_hours)
        recent = recent_retraining(client, group, since)
        if recent is not None:
            retrain = False
            extra["cooldown_run"] = recent
    check = replace(
        base,
        status="checked",
        reference_rows=measures.reference_rows,
        current_rows=measures.current_rows,
        features=measures.features,
        drifted_share=measures.drifted_share,
        score_shift=measures.score_shift,
        score_psi=measures.score_psi,
        reference_flag_rate=measures.reference_flag_rate,
        current_flag_rate=measures.current_flag_rate,
        drifted=drifted,
        reasons=tuple(reasons),
        retrain=retrain,
        report_path=measures.report_path,
        extra=extra,
    )
    return _log_run(ctx, check, measures)


def _log_run(ctx: StepContext, check: DriftCheck, measures: DriftMeasures) -> DriftCheck:
    """One MLflow run per check in the drift experiment: metrics, the report, the record."""
    from dataclasses import replace

    import mlflow

    client = ctx.client
    experiment_id = _experiment_id(client, ctx.settings)
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"drift-{check.group}-{check.window_end:%Y%m%dT%H%M}",
        tags={
            "sensorguard.group": check.group,
            "champion_version": check.champion_version or "",
            "drifted": str(check.drifted).lower(),
            "retrain": str(check.retrain).lower(),
            "reasons": "; ".join(check.reasons) or "none",
        },
    ) as run:
        mlflow.log_params(
            {
                "group": check.group,
                "window_start": check.window_start.isoformat(),
                "window_end": check.window_end.isoformat(),
                "reference_source": str(check.extra.get("reference_source", "")),
            }
        )
        metrics = {
            "drifted_share": measures.drifted_share,
            "drifted_features": float(len(check.drifted_features)),
            "reference_rows": float(check.reference_rows),
            "current_rows": float(check.current_rows),
            "drifted": float(check.drifted),
        }
        for name in ("score_shift", "score_psi", "reference_flag_rate", "current_flag_rate"):
            value = getattr(measures, name)
            if value is not None:
                metrics[name] = float(value)
        for column in measures.features:
            metrics[f"feature.{column.column}"] = column.score
        mlflow.log_metrics(metrics)
        if check.report_path:
            mlflow.log_artifact(check.report_path, "report")
        checked = replace(check, run_id=run.info.run_id)
        mlflow.log_dict(checked.to_dict(), "drift_check.json")
    return checked
