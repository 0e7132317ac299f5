"""Score readings of many sensors with their groups' models: the service's and the stream's core.

:class:`LiveScorer` finds each reading's group (sensor -> sensor type -> model spec), takes that
group's loaded model, and continues the sensor's :class:`~sensorguard.scoring.live.SensorContext`
with :func:`~sensorguard.scoring.live.advance`. The stream keeps contexts between polls; the
service (``stateful=False``) rebuilds them from the store on every call, so its answer for a
reading depends on the stored readings before it and the request's own earlier readings only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sensorguard.errors import NotFound
from sensorguard.schemas import Reading, Score
from sensorguard.scoring.live import (
    DEFAULT_WARMUP_ROWS,
    HistoryReader,
    Replay,
    SensorContext,
    advance_many,
    arrays,
    context_rows,
    prepare_context,
    read_history,
    rewarm,
)
from sensorguard.transforms.stream import epoch_ns

if TYPE_CHECKING:
    from sensorguard.scoring.model import Verdicts
    from sensorguard.serving.champions import Champions, LoadedModel, Swap
    from sensorguard.settings import Settings
    from sensorguard.specs import ModelSpec
    from sensorguard.store import TimeSeriesStore
    from sensorguard.validation import SensorCatalog

log = logging.getLogger(__name__)

NO_REPLAY = Replay(np.empty(0, dtype=np.int64), {})

GroupOf = Callable[[str], str | None]
"""sensor_id -> its model group, or None for a sensor the registry does not know."""

SiteOf = Callable[[str], str | None]
"""sensor_id -> its site, or None for a sensor the registry does not know."""


@dataclass(frozen=True)
class Scored:
    """A reading's verdict with where it came from."""

    score: Score
    group: str
    history_rows: int  # stored readings that completed the feature windows (service)
    site: str = ""  # the sensor's site, for per-site flag counts ("" if unknown)


@dataclass(frozen=True)
class Unscored:
    """A reading no model could score, and why."""

    reading: Reading
    reason: str


def score_records(
    model: LoadedModel, readings: Sequence[Reading], verdicts: Verdicts
) -> list[Score]:
    """The Score of each reading from its row of ``verdicts`` (contributions of flags only)."""
    from sensorguard.scoring.model import top_contributions

    score, flag, kind = verdicts.score.tolist(), verdicts.flag.tolist(), verdicts.kind.tolist()
    return [
        Score.model_construct(
            sensor_id=r.sensor_id,
            ts=r.ts,
            score=score[j],
            flag=flag[j],
            threshold=verdicts.threshold,
            model=model.name,
            model_version=model.version,
            kind=kind[j],
            contributions=(
                dict(top_contributions(verdicts.shares[j], verdicts.sources)) if flag[j] else {}
            ),
        )
        for j, r in enumerate(readings)
    ]


class LiveScorer:
    """Readings of any sensors in, one verdict per reading out (by the sensor's group model)."""

    def __init__(
        self,
        models: Champions,
        group_of: GroupOf,
        history: HistoryReader | None,
        *,
        stateful: bool,
        warmup_rows: int = DEFAULT_WARMUP_ROWS,
        lookback: timedelta = timedelta(days=2),
        site_of: SiteOf | None = None,
    ) -> None:
        self.models = models
        self.group_of = group_of
        self.site_of = site_of
        self.history = history
        self.stateful = stateful
        self.warmup_rows = warmup_rows
        self.lookback = lookback
        self.contexts: dict[str, SensorContext] = {}

    def forget(self, sensor_ids: Iterable[str]) -> None:
        """Drop the state of sensors another member may score now (after a rebalance)."""
        for sid in sensor_ids:
            self.contexts.pop(sid, None)

    def score(self, readings: Sequence[Reading]) -> tuple[list[Scored], list[Unscored]]:
        """Verdicts in the order of ``readings``; a sensor's readings are scored in time order
        (a repeated (sensor_id, ts) keeps its last version, like the store's upsert)."""
        by_sensor: dict[str, dict[int, tuple[int, Reading]]] = {}
        for i, r in enumerate(readings):
            by_sensor.setdefault(r.sensor_id, {})[epoch_ns(r.ts)] = (i, r)
        out: dict[int, Scored] = {}
        unscored: list[Unscored] = []
        # Per model: its sensors' contexts and new rows, scored with one detector call.
        work: dict[
            str, list[tuple[str, SensorContext, Replay, list[tuple[int, Reading]], int]]
        ] = {}
        loaded: dict[str, LoadedModel] = {}
        for sid, rows in by_sensor.items():
            group = self.group_of(sid)
            model = self.models.get(group) if group is not None else None
            ordered = [rows[t] for t in sorted(rows)]
            if group is None or model is None:
                reason = (
                    f"sensor {sid!r} is not registered"
                    if group is None
                    else f"group {group!r} has no @{self.models.alias} model"
                )
                unscored.extend(Unscored(r, reason) for _, r in ordered)
                continue
            context, replay, history_rows = self._context(sid, model, ordered[0][1].ts)
            loaded[model.key] = model
            work.setdefault(model.key, []).append((sid, context, replay, ordered, history_rows))
        for key, items in work.items():
            model = loaded[key]
            channels = model.model.channels
            batches = []
            for _, context, replay, ordered, _ in items:
                # The replay of a freshly warmed context and the new rows in one call.
                ts, values = arrays([r for _, r in ordered], channels)
                batches.append(
                    (
                        context,
                        np.concatenate([replay.ts_ns, ts]),
                        {
                            c: np.concatenate([replay.values.get(c, np.empty(0)), values[c]])
                            for c in channels
                        },
                    )
                )
            keep = context_rows(model.model, self.warmup_rows)
            all_verdicts = advance_many(model.model, batches, keep=keep)
            for (sid, context, replay, ordered, history_rows), verdicts in zip(
                items, all_verdicts, strict=True
            ):
                mine = verdicts.subset(np.arange(len(replay), len(verdicts)))
                records = score_records(model, [r for _, r in ordered], mine)
                site = (self.site_of(sid) if self.site_of is not None else None) or ""
                for (i, _), record in zip(ordered, records, strict=True):
                    out[i] = Scored(record, model.group, history_rows, site)
                if self.stateful:
                    self.contexts[sid] = context
        # Readings that lost to a later duplicate take the verdict of the version kept.
        scored: list[Scored] = []
        for i, r in enumerate(readings):
            if i in out:
                scored.append(out[i])
                continue
            kept = by_sensor[r.sensor_id].get(epoch_ns(r.ts))
            if kept is not None and kept[0] in out:
                scored.append(out[kept[0]])
        return scored, unscored

    def _context(
        self, sensor_id: str, model: LoadedModel, first_ts: datetime
    ) -> tuple[SensorContext, Replay, int]:
        """The sensor's context, the stored rows still to replay into it, the rows read."""
        context = self.contexts.get(sensor_id) if self.stateful else None
        if (
            context is not None
            and context.last_ns is not None
            and context.last_ns < epoch_ns(first_ts)
        ):
            if context.model_key != model.key:
                context = rewarm(model.model, model.key, context, warmup_rows=self.warmup_rows)
            return context, NO_REPLAY, len(context)
        # No state, or readings older than it (a replay, a late reading): the store says
        # what came before them.
        stored: list[Reading] = []
        if self.history is not None:
            stored = read_history(
                self.history, model.model, sensor_id, first_ts, self.lookback, self.warmup_rows
            )
        context, replay = prepare_context(
            model.model, model.key, stored, warmup_rows=self.warmup_rows
        )
        return context, replay, len(stored)


def store_history(store: TimeSeriesStore) -> HistoryReader:
    """A history reader over a time-series store."""

    def read(
        sensor_id: str, start: datetime, end: datetime, limit: int | None
    ) -> Sequence[Reading]:
        if limit is None:
            return store.read_readings([sensor_id], start, end)
        return store.read_latest(sensor_id, start, end, limit)

    return read


def catalog_groups(catalog: SensorCatalog, specs: Mapping[str, ModelSpec]) -> GroupOf:
    """sensor_id -> group via a sensor catalog (cached lookups) and the model specs."""
    from sensorguard.specs import group_for

    def group_of(sensor_id: str) -> str | None:
        found = catalog.lookup(sensor_id)
        if found is None:
            return None
        try:
            return group_for(found[0], specs).group
        except NotFound:
            return None

    return group_of


def catalog_sites(catalog: SensorCatalog) -> SiteOf:
    """sensor_id -> site via a sensor catalog (cached lookups)."""

    def site_of(sensor_id: str) -> str | None:
        found = catalog.lookup(sensor_id)
        return None if found is None else found[0].site

    return site_of


def count_scores(surface: str, scored: Sequence[Scored]) -> None:
    """Prometheus counts of scored readings by group and outcome (a fault kind or normal),
    and of flags by site and kind; one labelled increment per distinct outcome, not one per
    reading."""
    from collections import Counter

    from sensorguard import metrics

    outcomes: Counter[tuple[str, str]] = Counter()
    flags: Counter[tuple[str, str]] = Counter()
    histograms: dict[str, Any] = {}
    for s in scored:
        kind = (s.score.kind or "flagged") if s.score.flag else "normal"
        outcomes[(s.group, kind)] += 1
        if s.score.flag:
            flags[(s.site or "unknown", kind)] += 1
        if s.group not in histograms:
            histograms[s.group] = metrics.SCORE_VALUE.labels(surface, s.group)
        histograms[s.group].observe(s.score.score)
    for (group, outcome), n in outcomes.items():
        metrics.SCORES.labels(surface, group, outcome).inc(n)
    for (site, kind), n in flags.items():
        metrics.FLAGS.labels(surface, site, kind).inc(n)


def build_live_scorer(
    settings: Settings,
    store: TimeSeriesStore,
    *,
    alias: str = "champion",
    stateful: bool,
    surface: str,
) -> LiveScorer:
    """A live scorer over the configured registry, sensor catalog and store, polling ``alias``."""
    from sensorguard.serving.champions import Champions
    from sensorguard.specs import load_configured_specs
    from sensorguard.training.tracking import mlflow_client
    from sensorguard.validation import CachedCatalog
    from sensorguard.wiring import open_configured_metadata

    specs = load_configured_specs(settings)
    models = Champions(
        mlflow_client(settings), specs, alias=alias, on_swap=partial(report_swap, surface, alias)
    )
    catalog = CachedCatalog(open_configured_metadata(settings))
    return LiveScorer(
        models,
        catalog_groups(catalog, specs),
        store_history(store),
        stateful=stateful,
        warmup_rows=settings.scoring_warmup_rows,
        lookback=timedelta(hours=settings.scoring_lookback_hours),
        site_of=catalog_sites(catalog),
    )


def report_swap(surface: str, alias: str, swap: Swap) -> None:
    """The served version of a group as a Prometheus gauge (0: none)."""
    from sensorguard import metrics

    version = float(swap.new) if swap.new and swap.new.isdigit() else 0.0
    metrics.MODEL_VERSION.labels(surface, swap.group, alias).set(version)
