"""Write a simulation to a folder (JSONL for ingest, CSV for analysis) and read it back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from sensorguard.errors import NotFound
from sensorguard.schemas import Sensor
from sensorguard.simulate.config import FaultLabel, SimulationConfig
from sensorguard.simulate.fleet import LABEL_COLUMNS, Simulation

READINGS_JSONL = "readings.jsonl"
READINGS_CSV = "readings.csv"
LABELS_CSV = "labels.csv"
SENSORS_JSON = "sensors.json"
CONFIG_JSON = "simulation.json"

# Timestamps are whole seconds by construction (SimulationConfig), so this loses nothing.
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_PROGRESS_EVERY = 10_000


def progress_bar(enabled: bool) -> Progress:
    """A rich progress bar on stderr (stdout stays for results); a no-op when disabled."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def write_simulation(sim: Simulation, folder: Path, *, progress: bool = False) -> dict[str, Path]:
    """Write readings.jsonl, readings.csv, labels.csv, sensors.json and simulation.json.

    Byte-identical for the same config (seed and start included). Returns the paths by name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        name: folder / name
        for name in (READINGS_JSONL, READINGS_CSV, LABELS_CSV, SENSORS_JSON, CONFIG_JSON)
    }
    paths[CONFIG_JSON].write_text(sim.config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    sensors = [s.model_dump(mode="json") for s in sim.sensors]
    paths[SENSORS_JSON].write_text(json.dumps(sensors, indent=2) + "\n", encoding="utf-8")
    with progress_bar(progress) as bar:
        task = bar.add_task(READINGS_JSONL, total=len(sim.readings))
        with paths[READINGS_JSONL].open("w", encoding="utf-8") as out:
            for n, raw in enumerate(sim.iter_raw(), start=1):
                out.write(json.dumps(raw, separators=(",", ":")))
                out.write("\n")
                if n % _PROGRESS_EVERY == 0:
                    bar.update(task, completed=n)
        bar.update(task, completed=len(sim.readings))
        bar.add_task(READINGS_CSV, total=None)
        sim.readings.to_csv(paths[READINGS_CSV], index=False, date_format=TS_FORMAT)
    sim.labels_frame().to_csv(paths[LABELS_CSV], index=False, date_format=TS_FORMAT)
    return paths


def _require(path: Path) -> Path:
    if not path.is_file():
        raise NotFound("simulation file", str(path))
    return path


def load_simulation(folder: Path) -> Simulation:
    """Read back a folder written by write_simulation (JSONL is for ingest and is not read)."""
    config = SimulationConfig.model_validate_json(
        _require(folder / CONFIG_JSON).read_text(encoding="utf-8")
    )
    sensors = [
        Sensor.model_validate(s)
        for s in json.loads(_require(folder / SENSORS_JSON).read_text(encoding="utf-8"))
    ]
    readings = pd.read_csv(_require(folder / READINGS_CSV), dtype={"sensor_id": object})
    readings["ts"] = pd.to_datetime(readings["ts"], format=TS_FORMAT, utc=True)
    raw_labels = pd.read_csv(_require(folder / LABELS_CSV), dtype={"channel": object})
    labels = [
        FaultLabel.model_validate(
            {k: (None if pd.isna(v) else v) for k, v in row.items() if k in LABEL_COLUMNS}
        )
        for row in raw_labels.to_dict(orient="records")
    ]
    return Simulation(config=config, sensors=sensors, readings=readings, labels=labels)
