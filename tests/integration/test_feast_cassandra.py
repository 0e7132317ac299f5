"""Feast's Cassandra online store on the real server: apply creates the keyspace, materialize, serve."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from integration_support import free_port

from sensorguard.errors import BackendUnavailable
from sensorguard.featurestore import online_features
from sensorguard.featurestore.repo import ensure_online_keyspace
from sensorguard.pipelines.features import apply_features, export_features, materialize_features
from sensorguard.pipelines.seed import seed_simulation
from sensorguard.pipelines.training import group_sensor_ids
from sensorguard.settings import Settings
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.specs import load_specs
from sensorguard.store.cassandra import CassandraStore, CassandraURL
from sensorguard.training.dataset import compute_group_features, readings_frame
from sensorguard.wiring import open_configured_store

pytestmark = pytest.mark.integration

FAST_SPECS = Path(__file__).resolve().parents[1] / "unit" / "training" / "fast_specs"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
VIEWS = ("sensor_window_stats_fv", "sensor_channel_state_fv")


@pytest.fixture
def admin(cassandra_url: str) -> Iterator[CassandraStore]:
    """A connection to look at the server's schema and data (no keyspace of its own)."""
    store = CassandraStore.from_url(cassandra_url)
    yield store
    store.close()


def keyspace_replication(admin: CassandraStore, keyspace: str) -> dict[str, str] | None:
    row = admin.session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    return None if row is None else dict(row.replication)


def latest_feature_rows(settings: Settings) -> dict[str, dict[str, float]]:
    """Per sensor, the newest feature row the shared transforms compute from the stored readings."""
    latest: dict[str, dict[str, float]] = {}
    store = open_configured_store(settings)
    try:
        for spec in load_specs(FAST_SPECS).values():
            ids = group_sensor_ids(settings, spec)
            readings = readings_frame(store.read_readings(ids, START, END), spec.channels)
            features = compute_group_features(readings, spec.feature_spec)
            for sensor_id in ids:
                mine = readings.index[(readings["sensor_id"] == sensor_id).to_numpy()]
                newest = readings.loc[mine, "ts"].idxmax()
                latest[sensor_id] = features.loc[newest].to_dict()
    finally:
        store.close()
    return latest


def assert_served(settings: Settings, expected: dict[str, dict[str, float]]) -> None:
    online = online_features(settings, sorted(expected)).set_index("sensor_id")
    for sensor_id, row in expected.items():
        names = list(row)
        want = np.array([row[n] for n in names], dtype=float)
        assert np.isfinite(want).any(), sensor_id  # a row of NaN would prove nothing
        got = online.loc[sensor_id, names].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True, err_msg=sensor_id)


def test_keyspace_is_created_once_with_the_configured_replication(
    cassandra_url: str, admin: CassandraStore, tmp_path: Path
) -> None:
    keyspace = CassandraURL.parse(cassandra_url).keyspace
    settings = Settings(
        data_dir=tmp_path, feast_online_store_url=cassandra_url, cassandra_replication_factor=2
    )
    assert keyspace_replication(admin, keyspace) is None
    assert ensure_online_keyspace(settings) is True
    assert ensure_online_keyspace(settings) is False
    assert keyspace_replication(admin, keyspace) == {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "2",
    }


def test_materialized_features_are_served_from_cassandra(
    cassandra_url: str, admin: CassandraStore, tmp_path: Path
) -> None:
    keyspace = CassandraURL.parse(cassandra_url).keyspace
    datacenter = admin.session.execute("SELECT data_center FROM system.local").one().data_center
    # A named data centre: NetworkTopologyStrategy, and Feast's driver pinned to that DC.
    settings = Settings(
        data_dir=tmp_path / "sg",
        model_specs_dir=FAST_SPECS,
        feast_online_store_url=cassandra_url,
        cassandra_datacenter=datacenter,
    )
    sim = simulate_fleet(
        SimulationConfig(
            sensors=4, sites=1, days=1, seed=5, start=START, sensor_types=("climate", "acoustic")
        )
    )
    seed_simulation(settings, sim)
    export_features(settings, end=END.isoformat(), days=1)
    expected = latest_feature_rows(settings)
    assert len(expected) == 4

    assert keyspace_replication(admin, keyspace) is None
    applied = apply_features(settings)
    assert keyspace_replication(admin, keyspace) == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        datacenter: "1",
    }
    # materialize_features applies again: a second apply must find the keyspace and tables.
    materialized = materialize_features(settings, end=END.isoformat())
    assert materialized["features"] == applied["features"]
    assert not (tmp_path / "sg" / "feast" / "online.db").exists()
    for view in VIEWS:
        keys = admin.session.execute(
            f'SELECT DISTINCT entity_key FROM "{keyspace}"."sensorguard_{view}"'
        ).all()
        assert len(keys) == len(expected), view
    assert_served(settings, expected)

    # The online store is disposable: dropped, the next materialize (which applies first)
    # re-creates keyspace and tables in this same process.
    admin.session.execute(f'DROP KEYSPACE "{keyspace}"')
    materialize_features(settings, end=END.isoformat())
    assert_served(settings, expected)

    # A server that does not answer is a SensorGuard error the CLI reports, not a traceback.
    gone = settings.model_copy(
        update={"feast_online_store_url": f"cassandra://127.0.0.1:{free_port()}/{keyspace}"}
    )
    with pytest.raises(BackendUnavailable, match="Feast online store on Cassandra"):
        online_features(gone, sorted(expected))
