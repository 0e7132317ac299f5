"""When a calibrated score becomes a flag, how long a flag lasts: the one home of "threshold"."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScoringPolicy(BaseModel):
    """Flag levels in surprise units (``-log10`` of the chance a normal reading is this unusual).

    With ``sustain_rows``, a reading's score is the larger of its own surprise and that of its
    last ``sustain_rows`` readings' mean (calibrated as a run). With ``recent_rows``, that score
    is then judged against the sensor's own last ``recent_rows`` readings (the likelihood of
    its latest ``recent_short`` readings, or a new extreme; :mod:`sensorguard.scoring.recent`).
    A fault episode opens on the first reading at or above ``open_level`` and stays open while
    readings stay at or above ``hold_level``, or while a channel stays away from where it was
    before the onset (``hold_k`` times its normal one-hour movement): for an offset (level
    shift, drift) until it jumps back, otherwise at most ``bridge_rows`` readings after the
    last one at ``hold_level``. It closes after
    ``clear_rows`` quiet readings, or after ``max_episode_rows`` when the signal has settled
    (the model accepts it as the new normal until retraining says otherwise). Every reading
    inside an episode is flagged, so alerts open on the first flag and clear on the last.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Chosen on bench/faults.py (the simulator): at 3, false alarms on fault-free sensors stay
    # under 0.6 per sensor-day in every shipped group; at 2.5 acoustic sensors reach 1.4.
    open_level: float = Field(3.0, gt=0, description="surprise that opens an episode")
    hold_level: float = Field(2.0, gt=0, description="surprise that keeps one open")
    clear_rows: int = Field(3, ge=1, description="quiet readings that close an episode")
    hold_k: float = Field(4.0, gt=0, description="normal hourly movements away = still faulty")
    bridge_rows: int = Field(
        60, ge=0, description="quiet readings that being away can bridge inside an episode"
    )
    refractory_rows: int = Field(
        0, ge=0, description="after an episode, only a higher peak opens another this soon"
    )
    max_episode_rows: int = Field(720, ge=1, description="settled episodes end after this many")
    sustain_rows: int = Field(
        0, ge=0, le=1000, description="readings whose mean surprise is calibrated (0 = off)"
    )
    recent_rows: int = Field(
        0,
        ge=0,
        le=20_000,
        description="a sensor's past readings its latest are judged against (0 = off)",
    )
    recent_short: int = Field(
        10, ge=1, le=1000, description="latest readings whose mean surprise is judged"
    )
    extreme_margin: float | None = Field(
        0.02,
        ge=0,
        description="beyond the recent range by this share of it = a new extreme (None = off)",
    )
    calibration_share: float = Field(
        0.25, gt=0, lt=1, description="training rows held out to calibrate scores"
    )
    clean_passes: int = Field(
        1, ge=0, le=3, description="refits that leave out the training rows the model flagged"
    )

    @model_validator(mode="after")
    def _levels_ordered(self) -> ScoringPolicy:
        if self.hold_level > self.open_level:
            raise ValueError(
                f"hold_level must be at most open_level ({self.open_level:g}), "
                f"got {self.hold_level:g}"
            )
        return self
