"""The simulated fleet: sensors over sites, their readings with injected faults, and the labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Reading, Sensor, SensorType
from sensorguard.simulate.config import FaultKind, FaultLabel, SimulationConfig
from sensorguard.simulate.faults import inject_faults
from sensorguard.simulate.signals import (
    RESOLUTION,
    IntArray,
    SiteProfile,
    generate_signals,
    make_sites,
)

# Id prefixes per built-in type: th-001, snd-002, env-003.
ID_PREFIX: dict[str, str] = {"climate": "th", "acoustic": "snd", "environment": "env"}

BUILTIN_TYPES: dict[str, SensorType] = {t.name: t for t in BUILTIN_SENSOR_TYPES}

LABEL_COLUMNS = ["fault_id", "sensor_id", "channel", "kind", "start", "end", "magnitude"]


def channel_columns(type_names: tuple[str, ...]) -> list[str]:
    """The channel columns of a readings frame: every channel of the types, in declaration order."""
    return list(dict.fromkeys(c for n in type_names for c in BUILTIN_TYPES[n].channels))


@dataclass(frozen=True)
class _Layout:
    sensors: list[Sensor]
    sites: list[SiteProfile]
    site_index: IntArray


def _layout(config: SimulationConfig, rng: np.random.Generator) -> _Layout:
    sites = make_sites(config.sites, rng)
    # Contiguous blocks of sensors per site (every site gets one when sites <= sensors) while
    # types go round-robin, so each site holds a mix of types.
    site_index = (np.arange(config.sensors) * config.sites) // config.sensors
    sensors = []
    for i in range(config.sensors):
        type_name = config.sensor_types[i % len(config.sensor_types)]
        site = sites[int(site_index[i])]
        room = int(np.count_nonzero(site_index[:i] == site_index[i])) + 1
        sensors.append(
            Sensor(
                sensor_id=f"{ID_PREFIX[type_name]}-{i + 1:03d}",
                sensor_type=type_name,
                site=site.name,
                location=f"room {room}",
                tags={"simulated": "true", "utc_offset_h": f"{site.utc_offset_h:+d}"},
            )
        )
    return _Layout(sensors, sites, site_index.astype(np.intp))


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for layout, clean signals and faults: the clean signal of a seed
    stays the same whatever faults are asked for, so tests can compare faulty with clean."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def build_fleet(config: SimulationConfig) -> list[Sensor]:
    """The sensors a simulation with this config produces readings for."""
    return _layout(config, _streams(config.seed)[0]).sensors


@dataclass(frozen=True)
class Simulation:
    """A simulated fleet: its sensors, readings (time order across the fleet) and fault labels.

    `readings` has columns sensor_id, ts (UTC), seq (the reading's step number, so dropouts
    show as gaps) and one float column per channel, NaN where the sensor's type lacks it.
    """

    config: SimulationConfig
    sensors: list[Sensor]
    readings: pd.DataFrame
    labels: list[FaultLabel]

    @property
    def start(self) -> datetime:
        return self.config.resolved_start()

    @property
    def end(self) -> datetime:
        """End of the span (exclusive): one interval after the last possible reading."""
        return self.start + self.config.span

    @property
    def channels(self) -> list[str]:
        return channel_columns(self.config.sensor_types)

    def labels_frame(self) -> pd.DataFrame:
        """The labels as a frame, one row per fault; start and end are UTC timestamps."""
        frame = pd.DataFrame([label.model_dump() for label in self.labels], columns=LABEL_COLUMNS)
        frame["kind"] = frame["kind"].astype(str)
        for col in ("start", "end"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        return frame

    def point_labels(self) -> pd.DataFrame:
        """Per readings row: label (1 inside a fault window), kind, channel and fault_id (-1).

        Aligned with `readings` (same index). Dropout windows have no rows to mark: evaluate
        them from `labels`, whose windows cover the missing readings.
        """
        frame = self.readings
        n = len(frame)
        label = np.zeros(n, dtype=np.int8)
        kind = np.full(n, None, dtype=object)
        channel = np.full(n, None, dtype=object)
        fault_id = np.full(n, -1, dtype=np.int64)
        ts_ns = frame["ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        codes, names = pd.factorize(frame["sensor_id"])
        # One sort makes each sensor's rows a contiguous, time-ordered run.
        order = np.lexsort((ts_ns, codes))
        run_start = np.searchsorted(codes[order], np.arange(len(names) + 1), side="left")
        sorted_ts = ts_ns[order]
        code_of = {name: code for code, name in enumerate(names)}
        for lab in self.labels:
            code = code_of.get(lab.sensor_id)
            if lab.kind is FaultKind.DROPOUT or code is None:
                continue
            first, last = run_start[code], run_start[code + 1]
            bounds = [pd.Timestamp(lab.start).value, pd.Timestamp(lab.end).value]
            lo, hi = first + np.searchsorted(sorted_ts[first:last], bounds, side="left")
            hit = order[lo:hi]
            label[hit] = 1
            kind[hit] = lab.kind.value
            channel[hit] = lab.channel
            fault_id[hit] = lab.fault_id
        return pd.DataFrame(
            {
                "sensor_id": frame["sensor_id"],
                "ts": frame["ts"],
                "label": label,
                "kind": kind,
                "channel": channel,
                "fault_id": fault_id,
            },
            index=frame.index,
        )

    def iter_raw(self) -> Iterator[dict[str, Any]]:
        """Wire-format readings ({"sensor_id", "ts", "channels", "seq"}) in `readings` order."""
        frame = self.readings
        stamps = frame["ts"].to_numpy(dtype="datetime64[s]")
        distinct, which = np.unique(stamps, return_inverse=True)
        texts = np.datetime_as_string(distinct, unit="s", timezone="UTC").tolist()
        names = self.channels
        columns = [frame[c].to_numpy(dtype=np.float64).tolist() for c in names]
        for sensor_id, t, seq, *values in zip(
            frame["sensor_id"].tolist(),
            which.tolist(),
            frame["seq"].tolist(),
            *columns,
            strict=True,
        ):
            yield {
                "sensor_id": sensor_id,
                "ts": texts[t],
                # NaN marks a channel the type lacks; NaN != NaN.
                "channels": {c: v for c, v in zip(names, values, strict=True) if v == v},
                "seq": seq,
            }

    def subset(self, sensor_ids: set[str]) -> Simulation:
        """The part of this simulation that these sensors produced."""
        return replace(
            self,
            sensors=[s for s in self.sensors if s.sensor_id in sensor_ids],
            readings=self.readings[self.readings["sensor_id"].isin(sensor_ids)],
            labels=[lab for lab in self.labels if lab.sensor_id in sensor_ids],
        )

    def keys(self) -> set[tuple[str, datetime]]:
        """Every reading's identity (sensor_id, ts), as the store keys it."""
        ts = [t.to_pydatetime() for t in self.readings["ts"]]
        return set(zip(self.readings["sensor_id"], ts, strict=True))

    def iter_readings(self) -> Iterator[Reading]:
        """The readings as models (out_of_range values included: ranges are ingest's check)."""
        for raw in self.iter_raw():
            yield Reading.model_validate(raw)


def simulate_fleet(config: SimulationConfig, *, now: datetime | None = None) -> Simulation:
    """Generate a fleet's readings with labelled faults. `now` only matters when start is unset."""
    start = config.resolved_start(now)
    config = config.model_copy(update={"start": start})
    layout_rng, signal_rng, fault_rng = _streams(config.seed)
    layout = _layout(config, layout_rng)
    n_steps, interval = config.n_steps, config.interval_s
    start_epoch = int(start.timestamp())

    values = generate_signals(
        layout.sites, layout.site_index, start_epoch, n_steps, interval, signal_rng
    )
    present = np.ones((config.sensors, n_steps), dtype=bool)
    labels = inject_faults(
        values,
        present,
        layout.sensors,
        BUILTIN_TYPES,
        kinds=config.fault_kinds,
        fault_rate=config.fault_rate,
        start=start,
        interval_s=interval,
        rng=fault_rng,
    )

    # Time-major order: all sensors' readings of one instant, then the next, as devices send.
    keep = present.T
    sensor_of_row = np.broadcast_to(np.arange(config.sensors), keep.shape)[keep]
    step_of_row = np.broadcast_to(np.arange(n_steps)[:, None], keep.shape)[keep]
    ids = np.array([s.sensor_id for s in layout.sensors], dtype=object)
    columns: dict[str, Any] = {
        "sensor_id": ids[sensor_of_row],
        "ts": pd.to_datetime(
            start_epoch + step_of_row.astype(np.int64) * interval, unit="s", utc=True
        ),
        "seq": step_of_row.astype(np.int64),
    }
    for name in channel_columns(config.sensor_types):
        lacks = np.array(
            [name not in BUILTIN_TYPES[s.sensor_type].channels for s in layout.sensors]
        )
        grid = np.round(values[name], RESOLUTION[name])
        grid[lacks] = np.nan
        columns[name] = grid.T[keep]
    readings = pd.DataFrame(columns)
    return Simulation(config=config, sensors=layout.sensors, readings=readings, labels=labels)
