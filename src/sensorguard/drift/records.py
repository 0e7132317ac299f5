"""What a drift check found for one sensor group: the record the CLI, DAG and MLflow run share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["checked", "skipped"]
TRIGGER_PREFIX = "drift: "


@dataclass(frozen=True)
class ColumnDrift:
    """One feature column: its drift score (normed Wasserstein distance) and the verdict."""

    column: str
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftCheck:
    """One group's check: champion's training rows (reference) against a recent window (current).

    `drifted` is the spec's drift policy applied to the measures; `reasons` say which limits
    were passed (or, when `status` is "skipped", why nothing was judged). `retrain` is
    `drifted` unless a drift retraining of the group ran within the policy's cooldown.
    """

    group: str
    status: Status
    window_start: datetime
    window_end: datetime
    champion_version: str | None = None
    reference_rows: int = 0
    current_rows: int = 0
    features: tuple[ColumnDrift, ...] = ()
    drifted_share: float | None = None
    score_shift: float | None = None
    score_psi: float | None = None
    reference_flag_rate: float | None = None
    current_flag_rate: float | None = None
    drifted: bool = False
    reasons: tuple[str, ...] = ()
    retrain: bool = False
    report_path: str | None = None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    @property
    def flag_rate_change(self) -> float | None:
        if self.current_flag_rate is None or self.reference_flag_rate is None:
            return None
        return self.current_flag_rate - self.reference_flag_rate

    @property
    def trigger_reason(self) -> str:
        """What a retraining this check starts records as its `trigger_reason`."""
        return f"{TRIGGER_PREFIX}{self.group}: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (an XCom, `--json`): times as ISO text, features as a list of dicts."""
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        out["window_end"] = self.window_end.isoformat()
        out["reasons"] = list(self.reasons)
        out["drifted_features"] = self.drifted_features
        out["flag_rate_change"] = self.flag_rate_change
        out["trigger_reason"] = self.trigger_reason if self.drifted else None
        return out
