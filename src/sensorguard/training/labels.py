"""What is known about a group's rows: fault windows (simulator, CSV, real-fault verdicts),
operators' false-alarm and maintenance verdicts; turned into row labels and events."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator

from sensorguard.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from sensorguard.alerting.records import VerdictLabel
    from sensorguard.evaluation import Event
    from sensorguard.simulate import FaultLabel

CSV_COLUMNS = ("sensor_id", "channel", "kind", "start", "end")
DROPOUT = "dropout"


class LabelWindow(BaseModel):
    """A fault on one sensor over [start, end); channel is empty for dropout (missing readings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: str
    channel: str | None = None
    kind: str
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> LabelWindow:
        if self.end <= self.start:
            raise ValueError(f"end must be after start {self.start.isoformat()}")
        return self


def from_simulation(labels: Iterable[FaultLabel]) -> list[LabelWindow]:
    return [
        LabelWindow(
            sensor_id=lab.sensor_id,
            channel=lab.channel,
            kind=str(lab.kind),
            start=lab.start,
            end=lab.end,
        )
        for lab in labels
    ]


def read_labels_csv(path: Path) -> list[LabelWindow]:
    """Rows `sensor_id, channel, kind, start, end` (ISO times with zone); errors name line and field."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(
                    f"{path}: missing column {missing[0]!r} (expected: {', '.join(CSV_COLUMNS)})"
                )
            out = []
            for line, row in enumerate(reader, start=2):
                raw: dict[str, Any] = {c: row[c] for c in CSV_COLUMNS}
                raw["channel"] = raw["channel"] or None
                try:
                    out.append(LabelWindow.model_validate(raw))
                except ValidationError as err:
                    item = err.errors(include_url=False)[0]
                    field = ".".join(str(p) for p in item["loc"]) or "row"
                    msg = str(item["msg"]).removeprefix("Value error, ")
                    raise ConfigError(f"{path}:{line}: {field}: {msg}") from None
            return out
    except OSError as err:
        raise ConfigError(f"{path}: cannot read labels ({err.strerror})") from None


def write_labels_csv(labels: Iterable[LabelWindow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for lab in labels:
            writer.writerow(
                [
                    lab.sensor_id,
                    lab.channel or "",
                    lab.kind,
                    lab.start.isoformat(),
                    lab.end.isoformat(),
                ]
            )
    return path


def _ns(moment: datetime) -> int:
    import pandas as pd

    return int(pd.Timestamp(moment).value)


def row_labels(
    sensor_id: str, ts_ns: npt.NDArray[Any], labels: Sequence[LabelWindow]
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """(label 0/1, kind or "") per row of one sensor's time-ordered readings.

    Rows inside [start, end) of a fault are positive. A dropout has no rows of its own: the
    first reading after the gap, where the gap becomes visible, carries its label.
    """
    import numpy as np

    label = np.zeros(len(ts_ns), dtype=np.int8)
    kind = np.full(len(ts_ns), "", dtype=object)
    for lab in labels:
        if lab.sensor_id != sensor_id:
            continue
        lo, hi = _ns(lab.start), _ns(lab.end)
        if lab.kind == DROPOUT:
            first = int(np.searchsorted(ts_ns, hi, side="left"))
            rows = slice(first, first + 1) if first < len(ts_ns) else slice(0, 0)
        else:
            rows = slice(
                int(np.searchsorted(ts_ns, lo, side="left")),
                int(np.searchsorted(ts_ns, hi, side="left")),
            )
        label[rows] = 1
        kind[rows] = lab.kind
    return label, kind


def sensor_rows(
    keys: pd.DataFrame,
) -> Iterator[tuple[str, npt.NDArray[np.intp], npt.NDArray[np.int64]]]:
    """Per sensor of `keys` (sensor_id, ts; several sensors, any order): its id, its row
    positions in time order and their times in ns."""
    import numpy as np

    ts_all = keys["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ids = keys["sensor_id"].to_numpy()
    for sensor_id in dict.fromkeys(ids.tolist()):
        rows = np.flatnonzero(ids == sensor_id)
        rows = rows[np.argsort(ts_all[rows], kind="stable")]
        yield sensor_id, rows, ts_all[rows]


def row_truth(keys: pd.DataFrame, labels: Sequence[LabelWindow]) -> npt.NDArray[np.int8]:
    """The 0/1 label (see :func:`row_labels`) of every row of several sensors' `keys`."""
    import numpy as np

    truth = np.zeros(len(keys), dtype=np.int8)
    for sensor_id, rows, ts in sensor_rows(keys):
        truth[rows], _ = row_labels(sensor_id, ts, labels)
    return truth


def sensor_events(
    sensor_id: str,
    ts_ns: npt.NDArray[Any],
    labels: Sequence[LabelWindow],
    *,
    grace_s: float = 0.0,
) -> tuple[list[Event], int]:
    """The observable events of one sensor within its rows' span, and how many were not.

    An event ends at its last labelled row (the first reading after a dropout) plus `grace_s`.
    A fault with no reading to show it (out-of-range values refused at ingest, or outside the
    span of `ts_ns`) cannot be flagged by any model and is counted as unobservable.
    """
    import numpy as np

    from sensorguard.evaluation import Event

    events: list[Event] = []
    unobservable = 0
    grace = int(grace_s * 1e9)
    for lab in labels:
        if lab.sensor_id != sensor_id:
            continue
        lo, hi = _ns(lab.start), _ns(lab.end)
        if lab.kind == DROPOUT:
            first = int(np.searchsorted(ts_ns, hi, side="left"))
            has_rows = 0 < first < len(ts_ns) and ts_ns[0] <= lo
            last = int(ts_ns[first]) if has_rows else hi
        else:
            inside = ts_ns[(ts_ns >= lo) & (ts_ns < hi)]
            has_rows = len(inside) > 0
            last = int(inside[-1]) if has_rows else hi
        if not has_rows:
            if len(ts_ns) and lo < int(ts_ns[-1]) and hi > int(ts_ns[0]):
                unobservable += 1
            continue
        events.append(Event(np.datetime64(lo, "ns"), np.datetime64(last + grace, "ns"), lab.kind))
    return events, unobservable


def labels_in_span(
    labels: Sequence[LabelWindow], start: datetime, end: datetime
) -> list[LabelWindow]:
    return [lab for lab in labels if lab.end > start and lab.start < end]


# A real-fault verdict names the alert's window, not a gap: the dropout rule of `row_labels`
# (the reading after the window carries the label) would mislabel it, so it becomes "flagged".
_VERDICT_KIND_OF = {DROPOUT: "flagged", "": "flagged"}


def _overlaps(window: LabelWindow, others: Sequence[LabelWindow]) -> bool:
    return any(
        o.sensor_id == window.sensor_id and o.end > window.start and o.start < window.end
        for o in others
    )


@dataclass(frozen=True)
class LabelSet:
    """The labels of a group's rows, by what training does with them.

    ``faults`` are evaluation events and are left out of the fit; ``normal`` windows
    (false-alarm verdicts) are rows known to be normal: kept in training, where they calibrate
    (see ``fit_scoring_model``'s ``confirmed_normal``), and in evaluation, where flagging them
    is a false alarm counted on its own; ``excluded`` windows (maintenance) are dropped from
    training and evaluation alike: what a sensor reads while someone works on it is neither.
    """

    faults: tuple[LabelWindow, ...] = ()
    normal: tuple[LabelWindow, ...] = ()
    excluded: tuple[LabelWindow, ...] = ()

    @classmethod
    def of(cls, labels: LabelSet | Sequence[LabelWindow] | None) -> LabelSet:
        """A plain list of windows is faults only (the simulator's, a CSV's)."""
        if labels is None:
            return cls()
        return labels if isinstance(labels, LabelSet) else cls(faults=tuple(labels))

    @classmethod
    def merged(cls, faults: Sequence[LabelWindow], verdicts: Sequence[VerdictLabel]) -> LabelSet:
        """Fault windows (CSV, simulator) with operators' verdicts on alerts.

        A labelled fault stands where a verdict overlaps it on the same sensor: a real-fault
        verdict on it adds no second event (that would count one fault twice), and a
        false-alarm verdict there cannot make rows inside a known fault normal.
        """
        windows = list(faults)
        normal: list[LabelWindow] = []
        excluded: list[LabelWindow] = []
        latest = {v.alert_id: v for v in sorted(verdicts, key=lambda v: (v.at, v.label_id))}
        # An alert's latest verdict is the operator's last word on it: an acknowledgement's
        # "real fault" later resolved as "maintenance" is maintenance, over the longer window.
        for verdict in latest.values():
            window = verdict.window()
            if verdict.verdict == "maintenance":
                excluded.append(window)
            elif _overlaps(window, faults):
                continue
            elif verdict.verdict == "real_fault":
                kind = _VERDICT_KIND_OF.get(window.kind, window.kind)
                windows.append(window.model_copy(update={"kind": kind}))
            else:
                normal.append(window)
        return cls(tuple(windows), tuple(normal), tuple(excluded))

    def __bool__(self) -> bool:
        return bool(self.faults or self.normal or self.excluded)

    def in_span(self, start: datetime, end: datetime) -> LabelSet:
        return LabelSet(
            tuple(labels_in_span(self.faults, start, end)),
            tuple(labels_in_span(self.normal, start, end)),
            tuple(labels_in_span(self.excluded, start, end)),
        )


def in_windows(keys: pd.DataFrame, windows: Sequence[LabelWindow]) -> npt.NDArray[np.bool_]:
    """Whether each row of `keys` (sensor_id, ts) lies inside one of its sensor's windows."""
    import numpy as np

    inside = np.zeros(len(keys), dtype=bool)
    if not windows:
        return inside
    for sensor_id, rows, ts in sensor_rows(keys):
        for window in windows:
            if window.sensor_id == sensor_id:
                inside[rows[(ts >= _ns(window.start)) & (ts < _ns(window.end))]] = True
    return inside
