"""Feast: export -> apply -> materialize -> online and point-in-time reads give the transforms' values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sensorguard.errors import NotFound, UnsupportedURL
from sensorguard.featurestore import historical_features, online_features
from sensorguard.featurestore.config import online_store, repo_config_dict
from sensorguard.pipelines.features import apply_features, export_features, materialize_features
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.settings import Settings
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.specs import load_specs
from sensorguard.training.dataset import compute_group_features, readings_frame
from sensorguard.wiring import open_configured_store

FAST_SPECS = Path(__file__).resolve().parents[1] / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=2)


@pytest.fixture(scope="module")
def feast_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("feast") / "sg", model_specs_dir=FAST_SPECS
    )
    sim = simulate_fleet(
        SimulationConfig(
            sensors=4, sites=1, days=2, seed=3, start=START, sensor_types=("climate", "acoustic")
        )
    )
    seed_simulation(settings, sim)
    exported = export_features(settings, end=END.isoformat(), days=2)
    materialized = materialize_features(settings, end=END.isoformat())
    spec = load_specs(FAST_SPECS)["climate"]
    store = open_configured_store(settings)
    readings = readings_frame(store.read_readings(["th-001", "th-003"], START, END), spec.channels)
    store.close()
    expected = compute_group_features(readings, spec.feature_spec)
    return {
        "settings": settings,
        "exported": exported,
        "materialized": materialized,
        "spec": spec,
        "readings": readings,
        "expected": expected,
    }


def test_export_writes_both_tables_for_every_group(feast_repo: dict[str, Any]) -> None:
    exported = feast_repo["exported"]
    assert set(exported["groups"]) == {"climate", "acoustic"}
    assert exported["rows"] == sum(exported["groups"].values())
    for table in exported["tables"].values():
        frame = pd.read_parquet(table["path"])
        assert list(frame.columns[:2]) == ["sensor_id", "event_timestamp"]
        assert len(frame) == exported["rows"]
        assert str(frame["event_timestamp"].dtype) == "datetime64[ns, UTC]"


def test_apply_registers_the_declared_objects(feast_repo: dict[str, Any]) -> None:
    applied = apply_features(feast_repo["settings"])
    assert {
        "sensor",
        "sensor_window_stats_fv",
        "sensor_channel_state_fv",
        "detector_inputs_fs",
    } <= set(applied["objects"])
    assert (
        Path(applied["feature_store_yaml"]).read_text().count("entity_key_serialization_version: 3")
        == 1
    )
    assert feast_repo["materialized"]["features"] == applied["features"]


def test_historical_retrieval_returns_what_the_transforms_computed(
    feast_repo: dict[str, Any],
) -> None:
    readings, expected = feast_repo["readings"], feast_repo["expected"]
    got = historical_features(
        feast_repo["settings"], readings[["sensor_id", "ts"]], feast_repo["spec"].feature_spec
    )
    assert list(got.columns) == list(expected.columns)
    assert (got.index == expected.index).all()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), equal_nan=True)


def test_retrieval_is_point_in_time(feast_repo: dict[str, Any]) -> None:
    readings, expected = feast_repo["readings"], feast_repo["expected"]
    row = 500
    keys = pd.DataFrame(
        {
            "sensor_id": ["th-001", "th-001", "th-001"],
            "ts": [
                readings["ts"].iloc[row] + pd.Timedelta(seconds=30),  # between two readings
                readings["ts"].iloc[0] - pd.Timedelta(minutes=1),  # before any feature row
                readings["ts"].iloc[row] + pd.Timedelta(days=3),  # beyond the views' 1-day TTL
            ],
        }
    )
    spec = feast_repo["spec"].feature_spec
    got = historical_features(feast_repo["settings"], keys, spec, require_all=False)
    np.testing.assert_allclose(
        got.iloc[0].to_numpy(), expected.iloc[row].to_numpy(), equal_nan=True
    )
    assert got.iloc[1].isna().all()
    assert got.iloc[2].isna().all()
    # Training asks for every row: a reading Feast has no features for is an error, not NaN.
    with pytest.raises(NotFound, match="2 of 3 readings"):
        historical_features(feast_repo["settings"], keys, spec)


def test_online_store_serves_each_sensors_latest_row(feast_repo: dict[str, Any]) -> None:
    readings, expected = feast_repo["readings"], feast_repo["expected"]
    online = online_features(feast_repo["settings"], ["th-001", "th-003"]).set_index("sensor_id")
    for sensor_id in ("th-001", "th-003"):
        last = expected[(readings["sensor_id"] == sensor_id).to_numpy()].iloc[-1]
        for name, value in last.items():
            assert online.loc[sensor_id, name] == pytest.approx(value, nan_ok=True), name


def test_apply_before_export_says_what_to_run(settings: Settings) -> None:
    with pytest.raises(NotFound, match="sensorguard features export"):
        apply_features(settings)


def test_online_store_follows_settings(tmp_path: Path) -> None:
    default = Settings(data_dir=tmp_path)
    assert online_store(default) == {
        "type": "sqlite",
        "path": str((tmp_path / "feast" / "online.db").absolute()),
    }
    cassandra = Settings(
        data_dir=tmp_path, feast_online_store_url="cassandra://c1:9043,c2:9043/features"
    )
    assert online_store(cassandra) == {
        "type": "cassandra",
        "hosts": ["c1", "c2"],
        "port": 9043,
        "keyspace": "features",
        "protocol_version": 5,
        "read_concurrency": cassandra.cassandra_max_in_flight,
        "write_concurrency": cassandra.cassandra_max_in_flight,
    }
    assert repo_config_dict(cassandra)["entity_key_serialization_version"] == 3
    from feast import RepoConfig

    parsed = RepoConfig(**repo_config_dict(cassandra), repo_path=tmp_path).online_store
    assert (parsed.type, parsed.hosts, parsed.keyspace) == ("cassandra", ["c1", "c2"], "features")
    with pytest.raises(UnsupportedURL):
        online_store(Settings(data_dir=tmp_path, feast_online_store_url="redis://x"))
    with pytest.raises(UnsupportedURL):
        online_store(Settings(data_dir=tmp_path, feast_online_store_url="cassandra://c1/"))
