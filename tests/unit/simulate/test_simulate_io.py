"""Simulation files: wire-format JSONL, analysis CSV, labels; reproducible and readable back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from simulate_helpers import small_config

from sensorguard.schemas import Reading, Sensor
from sensorguard.simulate import Simulation, load_simulation, simulate_fleet, write_simulation

FILES = ("readings.jsonl", "readings.csv", "labels.csv", "sensors.json", "simulation.json")


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    config = small_config(days=0.5, fault_rate=4.0)
    write_simulation(simulate_fleet(config), tmp_path / "a")
    write_simulation(simulate_fleet(config), tmp_path / "b")
    write_simulation(simulate_fleet(config.model_copy(update={"seed": 99})), tmp_path / "c")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "readings.csv").read_bytes() != (
        tmp_path / "c" / "readings.csv"
    ).read_bytes()


def test_jsonl_is_one_wire_reading_per_line(tmp_path: Path, faulty_sim: Simulation) -> None:
    paths = write_simulation(faulty_sim, tmp_path)
    lines = paths["readings.jsonl"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(faulty_sim.readings)
    raws = [json.loads(line) for line in lines]
    assert all(set(raw) == {"sensor_id", "ts", "channels", "seq"} for raw in raws)
    readings = [Reading.model_validate(raw) for raw in raws]
    frame = faulty_sim.readings
    assert [r.sensor_id for r in readings] == frame["sensor_id"].tolist()
    assert [pd.Timestamp(r.ts) for r in readings] == frame["ts"].tolist()
    temps = [r.channels.get("temperature") for r in readings]
    assert temps == [None if pd.isna(v) else v for v in frame["temperature"]]
    sensors = json.loads(paths["sensors.json"].read_text(encoding="utf-8"))
    assert [Sensor.model_validate(s) for s in sensors] == faulty_sim.sensors


def test_load_reads_back_what_was_written(tmp_path: Path, faulty_sim: Simulation) -> None:
    write_simulation(faulty_sim, tmp_path)
    loaded = load_simulation(tmp_path)
    pd.testing.assert_frame_equal(loaded.readings, faulty_sim.readings)
    assert loaded.labels == faulty_sim.labels
    assert loaded.sensors == faulty_sim.sensors
    assert loaded.config == faulty_sim.config
    pd.testing.assert_frame_equal(loaded.point_labels(), faulty_sim.point_labels())
