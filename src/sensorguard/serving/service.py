"""The scoring service's core: what `POST /score` and `GET /models` do, without the web layer.

The BentoML service in ``serving/service.py`` is a thin class around :class:`ScoringService`;
tests call this class directly, through the ASGI app, and through ``bentoml serve``.

Each call is stateless: a sensor's recent readings come from the time-series store (the ones
before the earliest reading of that sensor in the request), so a reading's verdict depends on
the readings before it only, never on which other sensors or how many rows share the call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sensorguard import metrics
from sensorguard.errors import ModelUnavailable, ValidationFailed
from sensorguard.schemas import Reading, SensorId
from sensorguard.serving.champions import CHALLENGER, Champions
from sensorguard.serving.scorer import LiveScorer, build_live_scorer, count_scores

if TYPE_CHECKING:
    from sensorguard.settings import Settings
    from sensorguard.store import TimeSeriesStore

log = logging.getLogger(__name__)

SURFACE = "service"


class ScoreRequest(BaseModel):
    """Readings of any sensors; each is scored with its group's champion."""

    model_config = ConfigDict(extra="forbid")

    readings: list[Reading] = Field(min_length=1, description="validated like ingest's readings")


class ReadingVerdict(BaseModel):
    """One reading's verdict, and which model gave it from how much history."""

    sensor_id: SensorId
    ts: AwareDatetime
    score: float = Field(description="surprise: -log10 P(a normal reading is this unusual)")
    flag: bool = Field(description="inside a fault episode")
    threshold: float = Field(description="the surprise that opens an episode")
    kind: str = Field(description="fault kind of a flagged episode, else empty")
    contributions: dict[str, float] = Field(description="top sources of a flag and their shares")
    group: str
    model: str
    model_version: str
    history_rows: int = Field(
        description="stored readings before this request's first reading of the sensor that "
        "completed its feature windows"
    )


class ScoreAnswer(BaseModel):
    scores: list[ReadingVerdict]


class ModelInfo(BaseModel):
    """A served model: `GET /models` answers one per group."""

    group: str
    name: str
    version: str
    alias: str
    detector: str
    trained_at: str
    metrics: dict[str, float]


class ScoringService:
    """Scores readings with the champions; swaps champions when their aliases move."""

    def __init__(
        self,
        champions: Champions,
        scorer: LiveScorer,
        *,
        max_rows: int = 1000,
        poll_s: float = 30.0,
    ) -> None:
        self.champions = champions
        self.scorer = scorer
        self.max_rows = max_rows
        self.poll_s = poll_s

    @classmethod
    def from_settings(
        cls, settings: Settings, store: TimeSeriesStore | None = None
    ) -> ScoringService:
        from sensorguard.wiring import open_configured_store

        scorer = build_live_scorer(
            settings, store or open_configured_store(settings), stateful=False, surface=SURFACE
        )
        return cls(
            scorer.models,
            scorer,
            max_rows=settings.serve_max_rows,
            poll_s=settings.champion_poll_s,
        )

    def start(self) -> None:
        """Load the champions now and keep polling their aliases."""
        self.champions.refresh()
        self.champions.start(self.poll_s)

    def stop(self) -> None:
        self.champions.stop()

    def ready(self) -> bool:
        """Ready once the registry was read and at least one group has a champion."""
        return self.champions.last_refresh is not None and bool(self.champions.models())

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                group=m.group,
                name=m.name,
                version=m.version,
                alias=m.alias,
                detector=m.detector,
                trained_at=m.trained_at,
                metrics=dict(m.metrics),
            )
            for m in sorted(self.champions.models().values(), key=lambda m: m.group)
        ]

    def score(self, readings: Sequence[Reading]) -> ScoreAnswer:
        """Verdicts in request order. Unknown sensors are a 422 naming the reading; a group
        without a champion is a 503 naming the group."""
        if len(readings) > self.max_rows:
            raise ValidationFailed(
                "readings", f"{len(readings)} rows", f"at most {self.max_rows} rows per call"
            )
        started = time.perf_counter()
        scored, unscored = self.scorer.score(readings)
        if unscored:
            first = unscored[0]
            index = next(i for i, r in enumerate(readings) if r is first.reading)
            group = self.scorer.group_of(first.reading.sensor_id)
            metrics.UNSCORED.labels(SURFACE).inc(len(unscored))
            if group is not None:
                raise ModelUnavailable(group, self.champions.alias, first.reading.sensor_id)
            raise ValidationFailed(
                f"readings[{index}].sensor_id",
                first.reading.sensor_id,
                "a registered sensor (sensorguard sensors add)",
            )
        answer = ScoreAnswer(
            scores=[
                ReadingVerdict(
                    sensor_id=s.score.sensor_id,
                    ts=s.score.ts,
                    score=s.score.score,
                    flag=s.score.flag,
                    threshold=s.score.threshold,
                    kind=s.score.kind,
                    contributions=s.score.contributions,
                    group=s.group,
                    model=s.score.model,
                    model_version=s.score.model_version,
                    history_rows=s.history_rows,
                )
                for s in scored
            ]
        )
        metrics.SCORE_SECONDS.labels(SURFACE).observe(time.perf_counter() - started)
        count_scores(SURFACE, scored)
        return answer


__all__ = [
    "CHALLENGER",
    "ModelInfo",
    "ReadingVerdict",
    "ScoreAnswer",
    "ScoreRequest",
    "ScoringService",
]
