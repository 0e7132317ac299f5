"""The MLflow model registry for group models: register, gate, promote, roll back, load @champion.

One registered model per sensor group (`sensorguard-<group>`); every trained candidate is a
version carrying tags (validation status, metrics, training window, features, trigger, spec
hash). Promotion moves the `champion` alias and leaves the former champion on `previous`;
aliases and tags only, never the deprecated stages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sensorguard.errors import NotFound, ValidationFailed
from sensorguard.specs import registered_model_name

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.pyfunc import PyFuncModel

    from sensorguard.settings import Settings
    from sensorguard.specs import GatePolicy
    from sensorguard.training.bundle import DetectorBundle

CHAMPION = "champion"
PREVIOUS = "previous"
# A version scored beside the champion on live data (shadow scoring), never alerting.
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "metric."
# Tag values are bounded in the registry; long feature lists are cut and pointed to the run.
MAX_TAG_CHARS = 4000
# Shown by `models list` / `models compare`, in this order.
TABLE_METRICS = ("f1", "pr_auc", "event_recall", "false_alarms_per_sensor_day")


def champion_uri(group: str) -> str:
    return f"models:/{registered_model_name(group)}@{CHAMPION}"


def _missing(err: Exception) -> bool:
    code = getattr(err, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(err).lower()


def _registered_model(client: MlflowClient, group: str) -> RegisteredModel | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(registered_model_name(group))
    except MlflowException as err:
        if _missing(err):
            return None
        raise


def version_by_alias(client: MlflowClient, group: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(registered_model_name(group), alias)
    except MlflowException as err:
        if _missing(err):
            return None
        raise


def champion_version(client: MlflowClient, group: str) -> ModelVersion | None:
    return version_by_alias(client, group, CHAMPION)


def champion_metric(client: MlflowClient, group: str, metric: str) -> tuple[str, float] | None:
    """The champion's version and one evaluation metric it was registered with (its
    ``metric.<name>`` tag); None without a champion, or when the tag is missing or no number."""
    mv = champion_version(client, group)
    text = None if mv is None else (mv.tags or {}).get(METRIC_TAG_PREFIX + metric)
    if mv is None or text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else (str(mv.version), value)


def tag_value(value: object) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= MAX_TAG_CHARS else text[: MAX_TAG_CHARS - 20] + "... (see the run)"


def register_candidate(
    client: MlflowClient,
    group: str,
    model_uri: str,
    run_id: str,
    tags: Mapping[str, object],
    *,
    description: str = "",
) -> str:
    """Register a logged candidate as a version of `sensorguard-<group>`; its version.

    Idempotent: if a version of this run and model already exists (an Airflow retry of the
    register task), that version is returned with `tags` merged onto it, and none is created.
    """
    name = registered_model_name(group)
    if _registered_model(client, group) is None:
        client.create_registered_model(
            name,
            tags={"sensorguard.group": group},
            description=description or f"SensorGuard anomaly detector of sensor group {group}",
        )
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    existing = _registered_version(client, name, model_uri, run_id, model_id)
    if existing is not None:
        _merge_tags(client, existing, tags)
        return str(existing.version)
    # The client call, unlike mlflow.register_model, does not print to stderr.
    version = client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags={k: tag_value(v) for k, v in tags.items()},
        model_id=model_id,
    )
    return str(version.version)


def _registered_version(
    client: MlflowClient, name: str, model_uri: str, run_id: str, model_id: str | None
) -> ModelVersion | None:
    """The version of `name` already registered from this run's `model_uri`, if any.

    The run id alone is not enough (a run may log several models), so the model must match
    too. Registries store `source` as given for a logged model's `models:/m-<id>` URI and
    for `runs:/` URIs, so the URI usually compares as is; Databricks registries store the
    logged model's artifact location instead, and REST ones may report its `model_id`.
    """
    same_run = list(client.search_model_versions(f"name='{name}' and run_id='{run_id}'"))
    for mv in same_run:
        if mv.source == model_uri or (model_id is not None and mv.model_id == model_id):
            return mv
    if not same_run or model_id is None:
        return None
    # Only looked up when a version of this run exists under another source.
    location = client.get_logged_model(model_id).artifact_location
    return next((mv for mv in same_run if mv.source == location), None)


def _merge_tags(client: MlflowClient, mv: ModelVersion, tags: Mapping[str, object]) -> None:
    """Set the `tags` whose stored value differs; tags set since registration are kept."""
    stored = mv.tags or {}
    for key, value in tags.items():
        text = tag_value(value)
        if stored.get(key) != text:
            client.set_model_version_tag(mv.name, str(mv.version), key, text)


def set_tags(client: MlflowClient, group: str, version: str, tags: Mapping[str, object]) -> None:
    name = registered_model_name(group)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, tag_value(value))


@dataclass(frozen=True)
class Candidate:
    """A registered candidate and its evaluation reports on this run's evaluation rows.

    ``report`` judges it (floors, the champion comparison); ``selection``, when given, is its
    report on other rows, on which the best candidate is chosen, so the winner of N is not
    judged on the rows it won on.
    """

    version: str
    detector: str
    report: Mapping[str, Any]
    selection: Mapping[str, Any] | None = None

    @property
    def chosen_on(self) -> Mapping[str, Any]:
        return self.report if self.selection is None else self.selection


@dataclass
class GateDecision:
    """What the quality gate decided, and why (one reason per rejected check)."""

    promote: bool
    best: Candidate | None
    champion_version: str | None
    champion_score: float | None
    metric: str
    reasons: list[str] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def best_score(self) -> float | None:
        from sensorguard.training.evaluate import metric_value

        return metric_value(self.best.report, self.metric) if self.best else None


def floor_failures(report: Mapping[str, Any], policy: GatePolicy) -> list[str]:
    """Every minimum, and the false-alarm cap, that this evaluation misses.

    With a cap set, an unknown false-alarm rate (no sensor-days evaluated) fails too.
    """
    from sensorguard.training.evaluate import metric_value

    failures = []
    for metric, floor in (
        ("f1", policy.min_f1),
        ("pr_auc", policy.min_pr_auc),
        ("event_recall", policy.min_event_recall),
    ):
        value = metric_value(report, metric)
        if value < floor:
            failures.append(f"{metric} {value:.3f} < {floor:g}")
    ceiling = policy.max_false_alarms_per_sensor_day
    if ceiling is None:
        return failures
    alarms = _number(report.get("false_alarms_per_sensor_day"))
    if alarms is None:
        # The rate is undefined when no sensor-days were evaluated. Such a candidate cannot
        # show it stays under the cap, and passing it would put an unmeasured alarm rate in
        # front of users, so it fails rather than being counted as quiet.
        days = _number(report.get("sensor_days"))
        evaluated = "no sensor-days evaluated" if not days else f"{days:g} sensor-days evaluated"
        failures.append(
            f"false_alarms_per_sensor_day unknown ({evaluated}): "
            f"cannot show it stays <= {ceiling:g}"
        )
    elif alarms > ceiling:
        failures.append(f"false_alarms_per_sensor_day {alarms:.2f} > {ceiling:g}")
    return failures


def _number(value: object) -> float | None:
    """A report value as a number; None for a missing, undefined (None, NaN) or boolean one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def rank_key(report: Mapping[str, Any], metric: str) -> tuple[float, float, float]:
    """Gate metric first; PR-AUC then F1 break ties."""
    from sensorguard.training.evaluate import metric_value

    return (
        metric_value(report, metric),
        metric_value(report, "pr_auc"),
        metric_value(report, "f1"),
    )


def decide(
    candidates: Sequence[Candidate],
    champion: tuple[str, Mapping[str, Any]] | None,
    policy: GatePolicy,
) -> GateDecision:
    """The best candidate that passes the floors, promoted only if it beats the champion.

    `champion` is (version, report) with the report computed on the SAME evaluation rows as
    the candidates' (the current champion re-scored), so the comparison is like for like.
    """
    from sensorguard.training.evaluate import metric_value

    failures = {c.version: floor_failures(c.report, policy) for c in candidates}
    champ_version = None if champion is None else champion[0]
    champ_score = None if champion is None else metric_value(champion[1], policy.metric)

    def decision(promote: bool, best: Candidate | None, *reasons: str) -> GateDecision:
        return GateDecision(
            promote, best, champ_version, champ_score, policy.metric, list(reasons), failures
        )

    chosen = {
        c.version: floor_failures(c.chosen_on, policy) if c.selection is not None else []
        for c in candidates
    }
    # Choose on the selection rows among candidates that pass there, then judge on the others.
    eligible = [c for c in candidates if not chosen[c.version]] or list(candidates)
    pick = max(eligible, key=lambda c: rank_key(c.chosen_on, policy.metric), default=None)
    passing = [c for c in candidates if not failures[c.version]]
    if pick is not None and pick.selection is not None:
        passing = [pick] if not failures[pick.version] else []
    if not passing:
        best = (
            pick
            if pick is not None and pick.selection is not None
            else max(candidates, key=lambda c: rank_key(c.report, policy.metric), default=None)
        )
        reason = "no candidate passes the spec's minimums"
        if best is None:
            return decision(False, None, reason)
        why = "; ".join(failures[best.version])
        return decision(False, best, reason, f"best v{best.version} ({best.detector}): {why}")
    best = max(passing, key=lambda c: rank_key(c.chosen_on, policy.metric))
    if champion is None or champ_score is None:
        return decision(True, best, f"no current champion; v{best.version} passes the minimums")
    if best.version == champ_version:
        return decision(False, best, "already champion")
    # The spec's limits say what may face users; an incumbent over them on the same rows (say
    # it flags a routine operators judged false alarms, which the candidate learnt) does not
    # keep its place on the gate metric alone against a candidate within them.
    champ_over = [f for f in floor_failures(champion[1], policy) if "unknown" not in f]
    if champ_over:
        return decision(
            True,
            best,
            f"champion v{champ_version} fails the spec's limits on the same evaluation rows "
            f"({'; '.join(champ_over)}); v{best.version} passes them",
        )
    score = metric_value(best.report, policy.metric)
    needed = champ_score + policy.min_improvement
    if score > needed:
        return decision(
            True,
            best,
            f"v{best.version} {policy.metric} {score:.3f} beats champion v{champ_version} "
            f"{champ_score:.3f} on the same evaluation rows",
        )
    ours, theirs = rank_key(best.report, policy.metric), rank_key(champion[1], policy.metric)
    tie = score == needed and policy.min_improvement == 0
    versus = f"pr_auc {ours[1]:.3f} vs {theirs[1]:.3f}, f1 {ours[2]:.3f} vs {theirs[2]:.3f}"
    if tie and ours > theirs:
        return decision(
            True,
            best,
            f"v{best.version} ties champion v{champ_version} on {policy.metric} ({score:.3f}) and "
            f"wins the tie-break ({versus}) on the same evaluation rows",
        )
    reason = (
        f"v{best.version} {policy.metric} {score:.3f} does not beat champion v{champ_version} "
        f"{champ_score:.3f} (+{policy.min_improvement:g} required) on the same evaluation rows"
    )
    if tie:
        reason += f"; tie-break lost ({versus})"
    return decision(False, best, reason)


def promote(client: MlflowClient, group: str, version: str, *, reason: str) -> str | None:
    """Point @champion at `version`; the former champion keeps @previous. Returns the former."""
    from sensorguard.schemas import utc_now

    require_version(client, group, version)
    name = registered_model_name(group)
    current = champion_version(client, group)
    if current is not None and str(current.version) == str(version):
        return None
    client.set_registered_model_alias(name, CHAMPION, version)
    tags: dict[str, object] = {"promoted_at": utc_now().isoformat(), "promotion_reason": reason}
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current.version)
        tags["promoted_over"] = current.version
    set_tags(client, group, version, tags)
    return None if current is None else str(current.version)


def set_challenger(client: MlflowClient, group: str, version: str, *, reason: str) -> str | None:
    """Point @challenger at `version` (shadow-scored from now on); returns the former one."""
    from sensorguard.schemas import utc_now

    require_version(client, group, version)
    current = version_by_alias(client, group, CHALLENGER)
    client.set_registered_model_alias(registered_model_name(group), CHALLENGER, version)
    set_tags(
        client,
        group,
        version,
        {"challenger_since": utc_now().isoformat(), "challenger_reason": reason},
    )
    return None if current is None else str(current.version)


def rollback(client: MlflowClient, group: str) -> tuple[str, str]:
    """Put @previous back on @champion; returns (demoted version, restored version).

    @previous then moves one step further back (to the version the restored one had
    replaced), so repeated rollbacks walk down the promotion history.
    """
    from sensorguard.schemas import utc_now

    name = registered_model_name(group)
    current = champion_version(client, group)
    previous = version_by_alias(client, group, PREVIOUS)
    if current is None or previous is None:
        raise NotFound("previous champion to roll back to", name)
    client.set_registered_model_alias(name, CHAMPION, previous.version)
    set_tags(client, group, current.version, {"rolled_back_at": utc_now().isoformat()})
    older = previous.tags.get("promoted_over")
    if older and older != str(current.version):
        client.set_registered_model_alias(name, PREVIOUS, older)
    else:
        client.delete_registered_model_alias(name, PREVIOUS)
    return str(current.version), str(previous.version)


def force_promote(client: MlflowClient, group: str, version: str) -> str | None:
    """Manual promotion (`models promote GROUP VERSION`), recorded as such on the version."""
    return promote(client, group, version, reason="manual promotion")


RegistryAction = Literal[
    "model.register",
    "model.promote",
    "model.force_promote",
    "model.rollback",
    "model.challenger",
    "model.promote_challenger",
]


@dataclass(frozen=True)
class RegistryChange:
    """One step taken on a group's registered model, as the audit log records it.

    version: the version registered, promoted or restored (None when the gate had no
    candidate to promote); former: the champion before the step (the one rolled back, for a
    rollback).
    """

    action: RegistryAction
    group: str
    version: str | None
    outcome: str
    former: str | None = None
    reason: str = ""


def audit_registry_changes(
    settings: Settings, actor: str, changes: Iterable[RegistryChange]
) -> None:
    """Append registry changes to the metadata audit log, subject `sensorguard-<group>`.

    MLflow keeps aliases and tags but not who moved them; the audit log does, next to the
    key and user changes.
    """
    from sensorguard.wiring import open_configured_metadata

    todo = list(changes)
    if not todo:
        return
    with open_configured_metadata(settings) as metadata:
        for change in todo:
            detail = asdict(change)
            metadata.audit(actor, detail.pop("action"), registered_model_name(change.group), detail)


def load_champion(group: str, settings: Settings | None = None) -> PyFuncModel:
    """The group's champion as an MLflow pyfunc model (`models:/sensorguard-<group>@champion`)."""
    import mlflow.pyfunc

    from sensorguard.settings import get_settings
    from sensorguard.training.tracking import mlflow_client

    client = mlflow_client(settings or get_settings())
    if champion_version(client, group) is None:
        raise NotFound("champion model", registered_model_name(group))
    model: PyFuncModel = mlflow.pyfunc.load_model(champion_uri(group))
    return model


def load_champion_bundle(group: str, settings: Settings | None = None) -> DetectorBundle:
    """The champion's DetectorBundle, for in-process scorers that keep a FeatureState."""
    wrapped = load_champion(group, settings).unwrap_python_model()  # type: ignore[no-untyped-call]
    bundle: DetectorBundle = wrapped.bundle
    return bundle


def registered_groups(client: MlflowClient) -> list[str]:
    from sensorguard.specs import REGISTERED_MODEL_PREFIX

    return sorted(
        m.name.removeprefix(REGISTERED_MODEL_PREFIX)
        for m in client.search_registered_models()
        if m.name.startswith(REGISTERED_MODEL_PREFIX)
    )


def version_rows(
    client: MlflowClient, group: str, versions: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per version (newest first): aliases, detector, status, key metrics, trigger."""
    name = registered_model_name(group)
    model = _registered_model(client, group)
    if model is None:
        raise NotFound("registered model", name)
    found = list(client.search_model_versions(f"name='{name}'"))
    if versions:
        wanted = {str(v) for v in versions}
        missing = sorted(wanted - {str(v.version) for v in found})
        if missing:
            raise NotFound(f"version of {name}", missing[0])
        found = [v for v in found if str(v.version) in wanted]
    # Search results carry no aliases; the registered model maps alias -> version.
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(found, key=lambda v: int(v.version), reverse=True):
        tags = mv.tags or {}
        rows.append(
            {
                "group": group,
                "version": str(mv.version),
                "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                "detector": tags.get("detector", ""),
                "validation_status": tags.get("validation_status", ""),
                **{m: tags.get(METRIC_TAG_PREFIX + m, "") for m in TABLE_METRICS},
                "trigger_reason": tags.get("trigger_reason", ""),
                "training_window": tags.get("training_window", ""),
                "spec_hash": tags.get("spec_hash", ""),
                "run_id": mv.run_id or "",
            }
        )
    return rows


def require_version(client: MlflowClient, group: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(registered_model_name(group), version)
    except MlflowException as err:
        if _missing(err):
            raise ValidationFailed(
                "version", version, f"a version of {registered_model_name(group)}"
            ) from None
        raise
