"""The episode tracker: open, hold, close, refractory span, and the unambiguous kinds."""

from __future__ import annotations

import math

from sensorguard.scoring.episodes import ChannelProfile, EpisodeTracker, SensorProfile
from sensorguard.scoring.policy import ScoringPolicy

MINUTE = 60_000_000_000
PROFILE = SensorProfile(
    (ChannelProfile("t", step=0.1, noise=0.1, movement=0.5, flat_rows=2, low=-40, high=85),),
    interval_s=60.0,
)


def run(
    surprises: list[float], policy: ScoringPolicy, values: list[float] | None = None
) -> list[tuple[bool, str, bool]]:
    tracker = EpisodeTracker(PROFILE, policy)
    values = values or [20.0 + 0.05 * math.sin(i) for i in range(len(surprises))]
    out = []
    for i, (s, v) in enumerate(zip(surprises, values, strict=True)):
        step = tracker.step(i * MINUTE, [v], s, "t")
        out.append((step.flag, step.kind, step.onset))
    return out


def test_an_episode_opens_holds_and_closes() -> None:
    policy = ScoringPolicy(open_level=3, hold_level=2, clear_rows=2, bridge_rows=0)
    steps = run([0, 0, 3.5, 2.5, 2.1, 0.5, 0.5, 0.5, 2.5], policy)
    flags = [f for f, _, _ in steps]
    assert flags == [False, False, True, True, True, True, False, False, False]
    assert [o for _, _, o in steps].count(True) == 1


def test_a_lower_peak_right_after_an_episode_raises_no_new_one() -> None:
    policy = ScoringPolicy(open_level=3, clear_rows=1, bridge_rows=0, refractory_rows=5)
    steps = run([0, 6, 0, 0, 4, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 4], policy)
    onsets = [i for i, (_, _, onset) in enumerate(steps) if onset]
    # 4 at row 4 is below the peak 6 within the span; 7 beats it; after the span 4 opens again.
    assert onsets == [1, 6, 15]


def test_a_gap_before_the_onset_is_a_dropout_and_a_value_out_of_range_says_so() -> None:
    policy = ScoringPolicy(open_level=3, bridge_rows=0)
    tracker = EpisodeTracker(PROFILE, policy)
    for i in range(10):
        tracker.step(i * MINUTE, [20.0], 0.0, "t")
    step = tracker.step(40 * MINUTE, [20.0], 5.0, "timing")
    assert step.flag and step.onset and step.kind == "dropout"
    other = EpisodeTracker(PROFILE, policy)
    other.step(0, [20.0], 0.0, "t")
    assert other.step(MINUTE, [120.0], 9.0, "t").kind == "out_of_range"
