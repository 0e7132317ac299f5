"""Fault episodes: a flag is a state that lasts while the fault does, and says what it looks like.

:class:`EpisodeTracker` is one sensor's state machine, stepped one reading at a time by both
the batch path (a loop over a history) and the stream (one call per reading), so both give the
same verdicts. It opens an episode on a surprising reading, keeps every later reading flagged
while the readings stay surprising or the lead channel stays away from where it was before
the onset, and names the episode's kind from simple, documented signatures of each fault.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from sensorguard.scoring.attribution import TIMING
from sensorguard.scoring.policy import ScoringPolicy

F = npt.NDArray[np.float64]

REFERENCE_ROWS = 30  # readings before an onset that say where the channel was
NOISE_ROWS = 10  # readings whose spread tells a noise burst
HORIZON_ROWS = 60  # "normal movement" is measured over this many readings
SPIKE_ROWS = 3  # an episode this short that jumped is a spike
DROPOUT_GAP = 3.0  # a gap this many typical intervals long is a dropout
NOISE_RATIO = 3.0  # short-term spread this many times the normal one is a noise burst
JUMP_STEPS = 6.0  # a one-reading change this many normal steps is a jump
MIN_FLAT_ROWS = 5


class Kind(StrEnum):
    """What a flagged reading looks like (the simulator's fault taxonomy, plus ``unusual``)."""

    SPIKE = "spike"
    LEVEL_SHIFT = "level_shift"
    DRIFT = "drift"
    STUCK = "stuck"
    DROPOUT = "dropout"
    NOISE_BURST = "noise_burst"
    OUT_OF_RANGE = "out_of_range"
    UNUSUAL = "unusual"


# Once seen in an episode these stay its kind: they are unambiguous, and what follows them
# (the echo of a gap, the jump back after a stuck value) is not a new kind of fault.
_STICKY = frozenset({Kind.DROPOUT, Kind.OUT_OF_RANGE, Kind.STUCK})


def _spread(values: F) -> float:
    """Robust spread (IQR / 1.349, else std) of the finite values; 0 if there are none."""
    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return 0.0
    q1, q3 = np.percentile(finite, [25, 75])
    scale = float(q3 - q1) / 1.349
    return scale if scale > 0 else float(np.std(finite))


def _flat_runs(values: F) -> F:
    same = np.concatenate([[False], (values[1:] == values[:-1]) & np.isfinite(values[1:])])
    starts = np.maximum.accumulate(np.where(~same, np.arange(len(values)), 0))
    return (np.arange(len(values)) - starts + 1).astype(np.float64)


@dataclass(frozen=True)
class ChannelProfile:
    """A channel's normal behaviour on the training rows, the yardstick of the kind rules."""

    name: str
    step: float  # robust spread of one-reading changes
    noise: float  # median spread over NOISE_ROWS readings
    movement: float  # robust spread of changes over HORIZON_ROWS readings
    flat_rows: float  # a normal run of identical values is at most this long
    low: float = -math.inf  # physical range, when the sensor type declares one
    high: float = math.inf


@dataclass(frozen=True)
class SensorProfile:
    """Per-channel profiles plus the sensors' typical reporting interval."""

    channels: tuple[ChannelProfile, ...]
    interval_s: float

    @classmethod
    def fit(
        cls,
        series: Sequence[tuple[npt.NDArray[np.int64], Mapping[str, F]]],
        channels: Sequence[str],
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> SensorProfile:
        """Profile from training histories: one (ts ns, channel -> values) pair per sensor."""
        gaps: list[F] = []
        per: dict[str, dict[str, list[F]]] = {
            c: {"d": [], "h": [], "n": [], "f": []} for c in channels
        }
        for ts, values in series:
            gaps.append(np.diff(ts.astype(np.float64)) / 1e9)
            for c in channels:
                v = np.asarray(values[c], dtype=np.float64)
                v = v[np.isfinite(v)]
                if len(v) < 2:
                    continue
                per[c]["d"].append(np.diff(v))
                per[c]["h"].append(v[HORIZON_ROWS:] - v[:-HORIZON_ROWS])
                if len(v) >= NOISE_ROWS:
                    windows = np.lib.stride_tricks.sliding_window_view(v, NOISE_ROWS)
                    per[c]["n"].append(windows.std(axis=1))
                per[c]["f"].append(_flat_runs(v))
        profiles = []
        for c in channels:
            joined = {
                k: np.concatenate(parts) if parts else np.empty(0) for k, parts in per[c].items()
            }
            step = _spread(joined["d"])
            noise = float(np.median(joined["n"])) if len(joined["n"]) else step
            flats = joined["f"]
            low, high = (ranges or {}).get(c, (-math.inf, math.inf))
            profiles.append(
                ChannelProfile(
                    name=c,
                    step=max(step, 1e-9),
                    noise=max(noise, step, 1e-9),
                    movement=max(_spread(joined["h"]), step, 1e-9),
                    flat_rows=float(np.percentile(flats, 99.9)) if len(flats) else 1.0,
                    low=low,
                    high=high,
                )
            )
        all_gaps = np.concatenate(gaps) if gaps else np.empty(0)
        all_gaps = all_gaps[all_gaps > 0]
        interval = float(np.median(all_gaps)) if len(all_gaps) else 60.0
        return cls(tuple(profiles), interval)


@dataclass
class _ChannelState:
    before: deque[float] = field(default_factory=lambda: deque(maxlen=REFERENCE_ROWS))
    last: float = math.nan
    flat: int = 0
    # Values since the episode opened: a noise burst is spread *inside* the episode, not the
    # jump into it.
    inside: deque[float] = field(default_factory=lambda: deque(maxlen=NOISE_ROWS))


@dataclass(frozen=True)
class Step:
    """One reading's verdict from the tracker."""

    flag: bool
    kind: str  # "" when not flagged
    onset: bool  # this reading opened the episode


class EpisodeTracker:
    """One sensor's episode state; :meth:`step` takes readings in time order. Picklable."""

    def __init__(self, profile: SensorProfile, policy: ScoringPolicy):
        self.profile = profile
        self.policy = policy
        self._channels = [_ChannelState() for _ in profile.channels]
        self._last_ts: int | None = None
        self._open = False
        self._length = 0
        self._quiet = 0
        self._since_surprise = 0
        self._returned = False
        self._peak = 0.0
        self._peak_lead = ""
        self._cooling = 0
        self._reference: list[float] = []
        self._onset_jump: list[float] = []
        self._kind = Kind.UNUSUAL
        self._onset_gap = False

    @property
    def in_episode(self) -> bool:
        return self._open

    def step(self, ts_ns: int, values: Sequence[float], surprise: float, lead: str) -> Step:
        """Advance by one reading: its channel values, calibrated score and lead source."""
        policy = self.policy
        gap_s = math.nan if self._last_ts is None else (ts_ns - self._last_ts) / 1e9
        self._last_ts = ts_ns
        jumps: list[float] = []
        previous = [state.last for state in self._channels]
        for state, value in zip(self._channels, values, strict=True):
            present = math.isfinite(value)
            jumps.append(value - state.last if present else math.nan)
            state.flat = (state.flat + 1 if value == state.last else 1) if present else 0
            if present:
                state.inside.append(value)
                state.last = value
        onset = False
        if not self._open:
            # Right after an episode, only a reading beyond its peak opens a new one on the
            # same channel: the tail of a fault must not flap into a string of alerts, while
            # a fault elsewhere on the sensor is news.
            level = policy.open_level
            if self._cooling > 0:
                self._cooling -= 1
                if lead == self._peak_lead:
                    level = max(level, self._peak)
            if surprise >= level:
                onset = True
                self._open, self._length, self._quiet = True, 0, 0
                self._since_surprise, self._returned = 0, False
                self._peak, self._peak_lead = surprise, lead
                self._reference = [
                    statistics.median(s.before) if s.before else math.nan for s in self._channels
                ]
                self._onset_jump = jumps
                self._onset_gap = gap_s > DROPOUT_GAP * self.profile.interval_s
                for state, value in zip(self._channels, values, strict=True):
                    state.inside.clear()
                    if math.isfinite(value):
                        state.inside.append(value)
                self._kind = Kind.UNUSUAL
        else:
            self._length += 1
            if self._length < SPIKE_ROWS:
                # The jump into a fault may land a reading after the episode opened.
                self._onset_jump = [
                    o if math.isfinite(o) and not abs(j) > abs(o) else j
                    for o, j in zip(self._onset_jump, jumps, strict=True)
                ]
            if surprise >= policy.hold_level:
                self._since_surprise = 0
            else:
                self._since_surprise += 1
            self._returned = self._returned or self._jumped_back(previous, values)
            # Being away from the pre-onset level bridges the detector's quiet spells: its
            # windows adapt to a lasting offset. An offset-like episode (level shift, drift)
            # is bridged until the signal jumps back; any other only for `bridge_rows`, since
            # a stale reference would keep a daily cycle "away" long after the fault ended.
            offset = self._kind in (Kind.LEVEL_SHIFT, Kind.DRIFT)
            recent = self._since_surprise <= policy.bridge_rows
            bridged = not self._returned and (offset or recent) and self._away(values)
            if surprise >= policy.hold_level or (
                bridged and self._length < policy.max_episode_rows
            ):
                self._quiet = 0
            else:
                self._quiet += 1
            if surprise > self._peak:
                self._peak, self._peak_lead = surprise, lead
            settled = self._length >= policy.max_episode_rows and surprise < policy.open_level
            if self._quiet >= policy.clear_rows or settled:
                self._open = False
                self._cooling = policy.refractory_rows
        if not self._open:
            for state, value in zip(self._channels, values, strict=True):
                if math.isfinite(value):
                    state.before.append(value)
            return Step(False, "", False)
        kind = self._classify(values, lead)
        if self._kind not in _STICKY and kind is not Kind.UNUSUAL:
            self._kind = kind
        return Step(True, str(self._kind), onset)

    def _jumped_back(self, previous: Sequence[float], values: Sequence[float]) -> bool:
        """Whether a channel that was away just jumped most of the way back to its reference."""
        k = self.policy.hold_k
        for profile, ref, before, value in zip(
            self.profile.channels, self._reference, previous, values, strict=True
        ):
            if not (math.isfinite(ref) and math.isfinite(before) and math.isfinite(value)):
                continue
            was, now = before - ref, value - ref
            if (
                abs(was) > k * profile.movement
                and abs(value - before) >= JUMP_STEPS * profile.step
                and abs(now) <= 0.5 * abs(was)
            ):
                return True
        return False

    def _away(self, values: Sequence[float]) -> bool:
        """Whether any channel is still far from its pre-onset reference."""
        k = self.policy.hold_k
        for profile, ref, value in zip(self.profile.channels, self._reference, values, strict=True):
            if (
                math.isfinite(ref)
                and math.isfinite(value)
                and abs(value - ref) > k * profile.movement
            ):
                return True
        return False

    def _classify(self, values: Sequence[float], lead: str) -> Kind:
        profiles = self.profile.channels
        for profile, value in zip(profiles, values, strict=True):
            if math.isfinite(value) and not profile.low <= value <= profile.high:
                return Kind.OUT_OF_RANGE
        if self._onset_gap and (lead == TIMING or self._length <= SPIKE_ROWS):
            return Kind.DROPOUT
        names = [p.name for p in profiles]
        if lead not in names:
            return Kind.UNUSUAL
        i = names.index(lead)
        profile, state, value = profiles[i], self._channels[i], values[i]
        if not math.isfinite(value):
            return Kind.UNUSUAL
        if state.flat >= max(MIN_FLAT_ROWS, 2 * profile.flat_rows):
            return Kind.STUCK
        ref = self._reference[i]
        deviation = value - ref if math.isfinite(ref) else 0.0
        # Spread after the episode's first readings: the jump into a spike or a shift is not
        # noise, what follows it may be.
        inside = list(state.inside)
        seen = self._length + 1
        inside = inside[max(0, SPIKE_ROWS - (seen - len(inside))) :]
        centre, spread = _mean_std(inside) if len(inside) >= SPIKE_ROWS else (0.0, 0.0)
        if (
            len(inside) > SPIKE_ROWS
            and spread >= NOISE_RATIO * profile.noise
            and abs(centre - (ref if math.isfinite(ref) else value)) < spread
        ):
            return Kind.NOISE_BURST
        jump = self._onset_jump[i]
        jumped = math.isfinite(jump) and abs(jump) >= JUMP_STEPS * profile.step
        if self._length < SPIKE_ROWS:
            return Kind.SPIKE if jumped else Kind.UNUSUAL
        away = self.policy.hold_k * profile.movement
        far = abs(deviation) > away
        # A level shift arrives in one jump about as large as "far"; a drift gets there by
        # steps no larger than the signal's own.
        if jumped and far and abs(jump) >= max(0.5 * abs(deviation), 0.5 * away):
            return Kind.LEVEL_SHIFT
        if far:
            return Kind.DRIFT
        if jumped and self._length <= 2 * SPIKE_ROWS:
            return Kind.SPIKE
        return Kind.UNUSUAL


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std in float arithmetic (statistics.pstdev's exact fractions cost
    ~100 us a call, and the tracker asks on every reading of an episode)."""
    n = len(values)
    mean = math.fsum(values) / n
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
