"""The one scoring path: features -> detector -> calibrated score -> episode flag, kind, contributions.

Training evaluation, ``backtest``, the stream scorer and the HTTP service all score through a
:class:`ScoringModel`, so a reading gets the same verdict from each:

* :meth:`ScoringModel.score_history` scores one sensor's history (batch features, one
  vectorised detector call, then the episode tracker stepped row by row);
* :class:`SensorScorer` scores a live sensor one reading at a time (stream features, the same
  detector on a one-row matrix, the same tracker).

Both are causal: a reading's verdict depends on that reading and the ones before it only. The
detector and the calibrator are row-independent once fitted (the registry's contract), the
feature windows look back only, and the tracker steps forward in time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sensorguard.errors import ValidationFailed
from sensorguard.scoring.attribution import TIMING, channel_weights, shares
from sensorguard.scoring.calibration import Calibrator
from sensorguard.scoring.episodes import EpisodeTracker, SensorProfile
from sensorguard.scoring.policy import ScoringPolicy
from sensorguard.scoring.recent import RecentPrior
from sensorguard.transforms.spec import FeatureSpec, feature_names

if TYPE_CHECKING:
    import pandas as pd

    from sensorguard.detectors import Detector
    from sensorguard.schemas import Reading
    from sensorguard.transforms.batch import ChannelCarry

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

CALIBRATION_BLOCK = 60  # rows per block when training rows are dealt into fit / calibration
TOP_CONTRIBUTIONS = 3
MIN_KEPT_SHARE = 0.5  # a cleaning pass may leave out at most half the training rows


@dataclass(frozen=True)
class Verdict:
    """One reading's verdict: what every scoring surface returns for it."""

    score: float  # surprise: -log10 P(a normal reading is at least this unusual)
    flag: bool
    threshold: float  # the surprise that opens an episode
    kind: str  # the fault kind the episode looks like; "" when not flagged
    contributions: tuple[tuple[str, float], ...]  # top sources (channels, "timing"), shares
    onset: bool = False  # this reading opened the episode


@dataclass(frozen=True)
class Verdicts:
    """Verdicts of many readings as arrays (the batch form of :class:`Verdict`)."""

    score: F
    flag: npt.NDArray[np.bool_]
    kind: npt.NDArray[np.object_]
    onset: npt.NDArray[np.bool_]
    shares: F  # rows x sources
    sources: tuple[str, ...]
    threshold: float

    def __len__(self) -> int:
        return len(self.score)

    def verdict(self, row: int) -> Verdict:
        return Verdict(
            float(self.score[row]),
            bool(self.flag[row]),
            self.threshold,
            str(self.kind[row]),
            top_contributions(self.shares[row], self.sources),
            bool(self.onset[row]),
        )

    def subset(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Verdicts:
        return Verdicts(
            self.score[rows],
            self.flag[rows],
            self.kind[rows],
            self.onset[rows],
            self.shares[rows],
            self.sources,
            self.threshold,
        )

    def lead(self) -> npt.NDArray[np.object_]:
        """Each row's largest contributor."""
        lead: npt.NDArray[np.object_] = np.asarray(self.sources, dtype=object)[
            self.shares.argmax(axis=1)
        ]
        return lead

    @staticmethod
    def concat(parts: Sequence[Verdicts], sources: tuple[str, ...], threshold: float) -> Verdicts:
        if not parts:
            empty = np.empty(0)
            return Verdicts(
                empty,
                empty.astype(bool),
                empty.astype(object),
                empty.astype(bool),
                np.empty((0, len(sources))),
                sources,
                threshold,
            )
        return Verdicts(
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.flag for p in parts]),
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.onset for p in parts]),
            np.concatenate([p.shares for p in parts]),
            sources,
            threshold,
        )


def top_contributions(row: F, sources: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """The largest shares, renormalised to sum to 1 (rounded to 4 places)."""
    order = np.argsort(-row, kind="stable")[:TOP_CONTRIBUTIONS]
    kept = row[order]
    total = float(kept.sum())
    if total <= 0:
        return ()
    return tuple((sources[i], round(float(row[i]) / total, 4)) for i in order if row[i] > 0)


@dataclass(frozen=True)
class RecentRows:
    """One sensor's recent readings (time order) whose rows ``first`` onward are to be scored,
    the rows before them being context; see :meth:`ScoringModel.score_recent_many`."""

    ts_ns: I64
    values: Mapping[str, F]
    first: int
    tracker: EpisodeTracker
    carry: Mapping[str, ChannelCarry] | None = None
    # Base scores (before the recent-past stage) of rows before ``first``, aligned with them,
    # NaN where unknown; None when none are known.
    past: F | None = None


@dataclass(frozen=True)
class RecentScored:
    """What :meth:`ScoringModel.score_recent_many` returns per sensor for its new rows."""

    verdicts: Verdicts
    features: F
    base: F  # scores before the recent-past stage: what a live context carries on


@dataclass
class ScoringModel:
    """A fitted group model: features, detector, calibrator, episode policy and profile."""

    detector_label: str
    detector: Detector
    feature_spec: FeatureSpec
    calibrator: Calibrator
    profile: SensorProfile
    policy: ScoringPolicy
    sustained: Calibrator | None = None  # run means of surprise (see scoring.sustained)
    recent_prior: RecentPrior | None = None  # a new sensor's past (see scoring.recent)
    explainer: Any = None  # per-feature evidence for detectors that do not explain themselves
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def feature_names(self) -> list[str]:
        return feature_names(self.feature_spec)

    @cached_property
    def flat_columns(self) -> dict[str, int]:
        """channel -> column of its flat_len feature (the run a live context carries over)."""
        from sensorguard.transforms.spec import SEP

        names = self.feature_names
        return {
            c: names.index(f"{c}{SEP}flat_len")
            for c in self.channels
            if f"{c}{SEP}flat_len" in names
        }

    @cached_property
    def _weights(self) -> F:
        # Fixed by the feature spec: built once, not for every scored row of a stream.
        return channel_weights(self.feature_names, self.channels)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.feature_spec.channels

    @property
    def sources(self) -> tuple[str, ...]:
        return (*self.channels, TIMING)

    @property
    def threshold(self) -> float:
        return self.policy.open_level

    # ---------------------------------------------------------------- row-independent parts

    def raw_scores(self, features: F) -> F:
        return np.asarray(self.detector.decision_function(features), dtype=np.float64)

    def surprise(self, features: F) -> F:
        """Calibrated score of each feature row, from that row alone."""
        return self.calibrator.surprise(self.raw_scores(features))

    def base_scores(self, features: F) -> F:
        """Scores of one sensor's rows in time order before the recent-past stage: own or
        sustained surprise, the larger."""
        return self.sustain(self.surprise(features))

    @property
    def recent_lookback(self) -> int:
        """Past readings the recent-past stage looks back on (0 when it is off)."""
        policy = self.policy
        return policy.recent_rows + policy.recent_short if policy.recent_rows else 0

    def judge_recent(
        self, base: F, values: F, past_base: F, past_values: F, ts_ns: I64, past_ts_ns: I64
    ) -> F:
        """Base scores of new rows judged against the sensor's past rows (``values`` and
        ``past_values``: rows x channels); the base scores themselves when the stage is off."""
        policy = self.policy
        if not policy.recent_rows:
            return base
        from sensorguard.scoring.recent import RecentPrior, judge

        stamps = np.concatenate([past_ts_ns, ts_ns]).astype(np.float64)
        gaps = np.concatenate([[np.nan], np.diff(stamps) / 1e9])

        return judge(
            base,
            values,
            past_surprise=past_base,
            past_values=past_values,
            rows=policy.recent_rows,
            short=policy.recent_short,
            margin=policy.extreme_margin,
            prior=self.recent_prior or RecentPrior(0.0, 1.0),
            gaps=gaps[len(past_ts_ns) :],
            past_gaps=gaps[: len(past_ts_ns)],
        )

    def value_matrix(self, values: Mapping[str, F], rows: slice = slice(None)) -> F:
        """Channel values as rows x channels (this model's channel order)."""
        n_channels = len(self.channels)
        if not n_channels:
            return np.empty((0, 0))
        return np.column_stack(
            [np.asarray(values[c], dtype=np.float64)[rows] for c in self.channels]
        )

    def sustain(self, surprise: F) -> F:
        """One sensor's surprise in time order, combined with its sustained run means."""
        from sensorguard.scoring.sustained import combine, run_means

        return combine(surprise, run_means(surprise, self.policy.sustain_rows), self.sustained)

    def shares(self, features: F) -> F:
        """Per-source shares of each row's evidence (rows x sources)."""
        evidence = feature_evidence(self.detector, features, self.explainer)
        return shares(evidence, self._weights)

    # ---------------------------------------------------------------- sequential parts

    def new_tracker(self) -> EpisodeTracker:
        return EpisodeTracker(self.profile, self.policy)

    def score_history(
        self,
        ts_ns: I64,
        values: Mapping[str, F],
        features: F,
        tracker: EpisodeTracker | None = None,
    ) -> Verdicts:
        """Verdicts of one sensor's readings in time order (``features`` row-aligned).

        Pass a ``tracker`` to continue a sensor's state (e.g. after its training rows).
        """
        n = len(ts_ns)
        if features.shape[0] != n:
            raise ValidationFailed("feature rows", features.shape[0], f"one per reading ({n})")
        if not n:
            return self.track(ts_ns, values, np.empty(0), features, tracker or self.new_tracker())
        matrix = self.value_matrix(values)
        empty = np.empty((0, matrix.shape[1]))
        score = self.judge_recent(
            self.base_scores(features), matrix, np.empty(0), empty, ts_ns, ts_ns[:0]
        )
        return self.track(ts_ns, values, score, features, tracker or self.new_tracker())

    def score_recent_many(self, items: Sequence[RecentRows]) -> list[RecentScored]:
        """Verdicts, features and base scores of rows ``first`` onward of sensors' recent
        readings, with one detector call for all their rows.

        The rows before ``first`` are context: the feature windows (and the sustained run
        means) look back on them, the way :meth:`score_history` looks back on a whole
        history, and the recent-past stage judges the new rows against their ``past`` base
        scores, so a live scorer keeping enough recent rows gets the batch's numbers.

        Features and episodes are per sensor; the detector, the calibration and the
        attribution are row-independent, so stacking the sensors' rows changes no number and
        saves a call per sensor (what lets a stream poll of many sensors score quickly).
        """
        from sensorguard.transforms.batch import feature_matrix

        leads = [min(it.first, max(0, self.policy.sustain_rows - 1)) for it in items]
        blocks = [
            feature_matrix(
                it.ts_ns, it.values, self.feature_spec, first=it.first - lead, carry=it.carry
            )
            for it, lead in zip(items, leads, strict=True)
        ]
        stacked = np.vstack(blocks) if blocks else np.empty((0, len(self.feature_names)))
        if len(stacked):
            surprise_all, shares_all = self.surprise(stacked), self.shares(stacked)
        else:
            surprise_all, shares_all = np.empty(0), np.empty((0, len(self.sources)))
        out: list[RecentScored] = []
        start = 0
        for it, lead, block in zip(items, leads, blocks, strict=True):
            rows = slice(start, start + len(block))
            start += len(block)
            base = self.sustain(surprise_all[rows])[lead:] if len(block) else np.empty(0)
            features = block[lead:]
            new_values = {
                c: np.asarray(it.values[c], dtype=np.float64)[it.first :] for c in self.channels
            }
            past = it.past if it.past is not None else np.full(it.first, np.nan)
            score = self.judge_recent(
                base,
                self.value_matrix(new_values),
                past,
                self.value_matrix(it.values, slice(0, it.first)),
                it.ts_ns[it.first :],
                it.ts_ns[: it.first],
            )
            verdicts = self.track(
                it.ts_ns[it.first :],
                new_values,
                score,
                features,
                it.tracker,
                shares_all[rows][lead:],
            )
            out.append(RecentScored(verdicts, features, base))
        return out

    def track(
        self,
        ts_ns: I64,
        values: Mapping[str, F],
        surprise: F,
        features: F,
        tracker: EpisodeTracker,
        row_shares: F | None = None,
    ) -> Verdicts:
        """Step the episode tracker over scored rows in time order: the sequential half."""
        n = len(ts_ns)
        if row_shares is None:
            row_shares = self.shares(features) if n else np.empty((0, len(self.sources)))
        matrix = self.value_matrix(values)
        leads = np.asarray(self.sources, dtype=object)[row_shares.argmax(axis=1)] if n else []
        flag = np.zeros(n, dtype=bool)
        onset = np.zeros(n, dtype=bool)
        kind = np.full(n, "", dtype=object)
        ts_list = ts_ns.tolist()
        rows = matrix.tolist()
        for i in range(n):
            step = tracker.step(ts_list[i], rows[i], float(surprise[i]), leads[i])
            flag[i], kind[i], onset[i] = step.flag, step.kind, step.onset
        return Verdicts(surprise, flag, kind, onset, row_shares, self.sources, self.threshold)

    def score_frame(self, readings: pd.DataFrame, features: pd.DataFrame | None = None) -> Verdicts:
        """Verdicts of readings of one or more sensors (sensor_id, ts, channels), row-aligned.

        Each sensor's rows are its history: they are scored in time order from a fresh state.
        ``features`` (row-aligned, this model's feature columns) saves computing them again.
        """
        from sensorguard.training.dataset import per_sensor

        parts: list[Verdicts] = []
        order: list[npt.NDArray[np.intp]] = []
        for rows, ts, values, matrix in per_sensor(readings, self.feature_spec, features):
            parts.append(self.score_history(ts, values, matrix))
            order.append(rows)
        joined = Verdicts.concat(parts, self.sources, self.threshold)
        if not order:
            return joined
        inverse = np.empty(len(readings), dtype=np.intp)
        inverse[np.concatenate(order)] = np.arange(len(readings))
        return joined.subset(inverse)

    def scorer(self) -> SensorScorer:
        """A fresh per-sensor stream state for this model."""
        return SensorScorer(self)


class SensorScorer:
    """One live sensor: stream features and episode state, one verdict per reading. Picklable."""

    def __init__(self, model: ScoringModel):
        from sensorguard.scoring.sustained import SustainedState
        from sensorguard.transforms import FeatureState

        self.model = model
        self.features = FeatureState(model.feature_spec)
        self.sustained = SustainedState(max(1, model.policy.sustain_rows), model.sustained)
        self.tracker = model.new_tracker()
        lookback = max(1, model.recent_lookback)
        self._past_base: deque[float] = deque(maxlen=lookback)
        self._past_values: deque[list[float]] = deque(maxlen=lookback)
        self._past_ts: deque[int] = deque(maxlen=lookback)

    def update(self, ts: datetime | int, channels: Mapping[str, float]) -> Verdict:
        from sensorguard.transforms.stream import epoch_ns

        model = self.model
        row = self.features.update(ts, channels)[None, :]
        base = self.sustained.update(float(model.surprise(row)[0]))
        values = [finite_or_nan(channels.get(c)) for c in model.channels]
        width = len(values)
        now = epoch_ns(ts)
        surprise = float(
            model.judge_recent(
                np.array([base]),
                np.array([values]).reshape(1, width),
                np.fromiter(self._past_base, dtype=np.float64),
                np.array(self._past_values, dtype=np.float64).reshape(-1, width),
                np.array([now], dtype=np.int64),
                np.fromiter(self._past_ts, dtype=np.int64),
            )[0]
        )
        self._past_base.append(base)
        self._past_values.append(values)
        self._past_ts.append(now)
        row_shares = model.shares(row)[0]
        lead = model.sources[int(row_shares.argmax())]
        step = self.tracker.step(now, values, surprise, lead)
        return Verdict(
            surprise,
            step.flag,
            model.threshold,
            step.kind,
            top_contributions(row_shares, model.sources),
            step.onset,
        )

    def update_reading(self, reading: Reading) -> Verdict:
        return self.update(reading.ts, reading.channels)


def feature_evidence(detector: Detector, features: F, explainer: Any = None) -> F:
    """Per-feature evidence of each row (rows x features, >= 0, larger = more unusual).

    The detector decides *whether* a reading is unusual; the ``explainer`` fitted on the same
    training rows (:class:`~sensorguard.detectors.tailmax.TailMax`: each feature's own
    two-sided tail probability) says *where*, the same way for every detector. It is
    rank-based, so a heavy-tailed feature (a z-score against a short window) does not take
    the blame for every unusual row the way a raw scaled distance or |z| would.
    """
    scaled = detector.scaled(features)
    if explainer is not None:
        return np.asarray(explainer.feature_scores(scaled), dtype=np.float64)
    return np.abs(scaled)


def finite_or_nan(value: object) -> float:
    """A channel value as a float, NaN when missing or not finite."""
    if value is None:
        return math.nan
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else math.nan


# --------------------------------------------------------------------------- fitting


def _split(
    mask: npt.NDArray[np.bool_], histories: Sequence[SensorHistory]
) -> list[npt.NDArray[np.bool_]]:
    """``mask`` over the concatenated histories, cut back into one piece per history."""
    bounds = np.cumsum([len(h.ts_ns) for h in histories])[:-1]
    return list(np.split(mask, bounds))


def _masked(values: Mapping[str, F], keep: npt.NDArray[np.bool_]) -> dict[str, F]:
    return {c: np.where(keep, np.asarray(v, dtype=np.float64), np.nan) for c, v in values.items()}


def _fit_sustained(
    estimator: Detector,
    calibrator: Calibrator,
    features: F,
    cal_rows: npt.NDArray[np.bool_],
    histories: Sequence[SensorHistory],
    policy: ScoringPolicy,
) -> Calibrator | None:
    """Calibrate run means on each history's runs of consecutive calibration rows."""
    from sensorguard.evaluation.metrics import runs
    from sensorguard.scoring.sustained import fit_sustained

    if policy.sustain_rows < 1:
        return None
    surprise = np.zeros(len(features))
    surprise[cal_rows] = calibrator.surprise(estimator.decision_function(features[cal_rows]))
    pieces: list[F] = []
    offset = 0
    for history in histories:
        n = len(history.ts_ns)
        mask = cal_rows[offset : offset + n]
        for start, end in zip(*runs(mask), strict=True):
            pieces.append(surprise[offset + start : offset + end + 1])
        offset += n
    return fit_sustained(pieces, policy.sustain_rows)


def calibration_rows(n_rows: int, share: float) -> npt.NDArray[np.bool_]:
    """Rows held out for calibration: whole blocks dealt evenly, so every part of the training
    period (every time of day, every sensor) is represented on both sides."""
    # Short histories get shorter blocks, so that some land on each side.
    blocks = np.arange(n_rows) // max(1, min(CALIBRATION_BLOCK, n_rows // 16))
    held = np.floor((blocks + 1) * share) > np.floor(blocks * share)
    if held.all() or not held.any():
        held = np.arange(n_rows) % max(2, round(1 / share)) == 0
    result: npt.NDArray[np.bool_] = held
    return result


@dataclass(frozen=True)
class SensorHistory:
    """One sensor's training readings and features, in time order."""

    ts_ns: I64
    values: Mapping[str, F]
    features: F


def fit_scoring_model(
    detector: str,
    histories: Sequence[SensorHistory],
    feature_spec: FeatureSpec,
    *,
    params: Mapping[str, Any] | None = None,
    policy: ScoringPolicy | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    label: str | None = None,
    max_train_rows: int | None = None,
    learnable: Sequence[npt.NDArray[np.bool_]] | None = None,
    confirmed_normal: Sequence[npt.NDArray[np.bool_]] | None = None,
) -> ScoringModel:
    """Fit detector ``detector`` and its calibration on sensors' training histories.

    The training rows are dealt into fit and calibration rows (``policy.calibration_share``);
    the calibrator sees scores of rows the detector was not fitted on, computed the way the
    stream computes them. Then, ``policy.clean_passes`` times, every history is scored through
    the full path and the rows inside flagged episodes are left out of the next fit: faults
    hidden in the training data would otherwise teach the model that faults are normal.
    ``learnable`` (per history) excludes rows up front, e.g. known faults or maintenance.

    ``confirmed_normal`` (per history) marks rows an operator judged normal (false-alarm
    verdicts): the cleaning passes never leave them out, and they are calibration rows, since
    the calibrator is what says how unusual a normal row may look. Dealt to the fit side they
    would only nudge the detector; on the calibration side a normal row that scored high
    directly lowers the surprise such scores get, which is what the verdict asserts.
    """
    from sensorguard.detectors import make_detector

    policy = policy or ScoringPolicy()
    if not histories:
        raise ValidationFailed("training histories", 0, "at least one sensor's readings")
    features = np.concatenate([h.features for h in histories])
    names = feature_names(feature_spec)
    if features.shape[1] != len(names):
        raise ValidationFailed(
            "feature columns", features.shape[1], f"{len(names)} ({names[:3]}...)"
        )
    keep = (
        np.concatenate(list(learnable))
        if learnable is not None
        else np.ones(len(features), dtype=bool)
    )
    confirmed = (
        np.concatenate(list(confirmed_normal))
        if confirmed_normal is not None
        else np.zeros(len(features), dtype=bool)
    )
    keep = keep | confirmed
    # The kind rules' yardsticks come from normal rows only: a stuck value left in would make
    # a long flat run look normal.
    profile = SensorProfile.fit(
        [
            (h.ts_ns, _masked(h.values, part))
            for h, part in zip(histories, _split(keep, histories), strict=True)
        ],
        feature_spec.channels,
        ranges,
    )
    held = calibration_rows(len(features), policy.calibration_share)
    held = held | confirmed
    model: ScoringModel | None = None
    for pass_no in range(policy.clean_passes + 1):
        fit_rows = keep & ~held
        cal_rows = keep & held
        if fit_rows.sum() < 2 or cal_rows.sum() < 20:
            raise ValidationFailed(
                "training rows",
                int(keep.sum()),
                "enough unflagged rows to fit and calibrate (at least ~100)",
            )
        estimator = make_detector(detector, max_train_rows=max_train_rows, **dict(params or {}))
        estimator.fit(features[fit_rows])
        held_raw = estimator.decision_function(features[cal_rows])
        calibrator = Calibrator.fit(held_raw)
        from sensorguard.detectors.tailmax import TailMax

        explainer = TailMax().fit(estimator.scaled(features[fit_rows]))
        sustained = _fit_sustained(estimator, calibrator, features, cal_rows, histories, policy)
        model = ScoringModel(
            detector_label=label or detector,
            detector=estimator,
            feature_spec=feature_spec,
            calibrator=calibrator,
            profile=profile,
            policy=policy,
            sustained=sustained,
            recent_prior=RecentPrior.fit(calibrator.surprise(held_raw)),
            explainer=explainer,
            info={
                "fit_rows": int(fit_rows.sum()),
                "calibration_rows": int(cal_rows.sum()),
                "left_out_rows": int((~keep).sum()),
                "clean_pass": pass_no,
            },
        )
        if pass_no == policy.clean_passes:
            break
        flagged = np.concatenate(
            [model.score_history(h.ts_ns, h.values, h.features).flag for h in histories]
        )
        if (keep & ~flagged).sum() < MIN_KEPT_SHARE * keep.sum():
            # Flagging most of the training data says the model is wrong, not the data.
            break
        keep = (keep & ~flagged) | confirmed
    assert model is not None  # the loop runs at least once
    return model
