"""Feast in one process: load the declarations, apply, materialize, read online and historical."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sensorguard.errors import BackendUnavailable, ConfigError, NotFound

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

    from sensorguard.settings import Settings
    from sensorguard.transforms import FeatureSpec

DECLARATIONS = "definitions.py"
ENTITY_KEY = "sensor_id"
FEATURE_SERVICE = "detector_inputs_fs"

log = logging.getLogger(__name__)


def load_declarations(folder: Path) -> list[Any]:
    """The Feast objects declared in `folder/definitions.py` (imported as a module, as Feast does)."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource

    path = folder / DECLARATIONS
    if not path.exists():
        raise ConfigError(f"{path}: Feast declarations not found (SENSORGUARD_FEATURE_REPO_DIR)")
    name = "sensorguard_feature_repo"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    kinds = (Entity, DataSource, FeatureView, FeatureService)
    return [obj for obj in vars(module).values() if isinstance(obj, kinds)]


def feature_store(settings: Settings) -> FeatureStore:
    """A FeatureStore configured from settings (no feature_store.yaml is read)."""
    from feast import FeatureStore, RepoConfig

    from sensorguard.featurestore.config import feast_dir, repo_config_dict

    folder = feast_dir(settings)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = RepoConfig(**repo_config_dict(settings), repo_path=folder)
    return FeatureStore(repo_path=str(folder), config=config)


@contextmanager
def _opened(settings: Settings, doing: str) -> Iterator[FeatureStore]:
    """A FeatureStore for one operation; a Cassandra online store's connection ends with it.

    Feast's Cassandra store opens a cluster connection per FeatureStore and never closes it.
    Driver errors (server down, timeouts, refusals) become BackendUnavailable.
    """
    from sensorguard.featurestore.config import cassandra_online_url

    store = feature_store(settings)
    url = cassandra_online_url(settings)
    if url is None:
        yield store
        return
    from sensorguard.store.cassandra import driver_errors

    online: Any = getattr(store._get_provider(), "online_store", None)
    where = f"Feast online store on Cassandra at {url.where} ({url.keyspace})"
    try:
        with driver_errors(where, doing, refused=BackendUnavailable):
            yield store
    finally:
        cluster = getattr(online, "_cluster", None)
        if cluster is not None:
            cluster.shutdown()


def ensure_online_keyspace(settings: Settings) -> bool:
    """Create the Cassandra online store's keyspace if missing; True if this call created it.

    Feast creates its tables but expects the keyspace to exist. Replication follows the same
    settings as the time-series store's keyspace.
    """
    from sensorguard.featurestore.config import cassandra_online_url

    url = cassandra_online_url(settings)
    if url is None:
        return False
    from cassandra.metadata import protect_name

    from sensorguard.store.cassandra import CassandraStore, driver_errors, replication_clause

    replication = replication_clause(settings)
    # A connection without keyspace, configured (protocol, data centre, timeouts) and guarded
    # like the store's own; none of the store's tables are created.
    admin = CassandraStore(url, settings=settings)
    try:
        if url.keyspace in admin.session.cluster.metadata.keyspaces:
            return False
        # Feast quotes the keyspace in its statements, so the name is created exactly as given.
        cql = (
            f"CREATE KEYSPACE IF NOT EXISTS {protect_name(url.keyspace)} "
            f"WITH replication = {replication}"
        )
        doing = (
            f"creating keyspace {url.keyspace} with replication {replication} "
            "(SENSORGUARD_CASSANDRA_*)"
        )
        with driver_errors(f"Cassandra at {url.where}", doing, refused=ConfigError):
            admin.session.execute(cql)
        log.info("created keyspace %s for the Feast online store", url.keyspace)
        return True
    finally:
        admin.close()


def apply(settings: Settings) -> dict[str, Any]:
    """Register the declarations (feature columns inferred from the exported tables).

    A Cassandra online store's keyspace is created first if missing.
    """
    from sensorguard.featurestore.config import (
        CHANNEL_STATE_TABLE,
        WINDOW_STATS_TABLE,
        declarations_dir,
        feast_dir,
        write_feature_store_yaml,
    )

    for table in (WINDOW_STATS_TABLE, CHANNEL_STATE_TABLE):
        if not (feast_dir(settings) / table).exists():
            raise NotFound(
                "exported feature table",
                f"{feast_dir(settings) / table} (run `sensorguard features export` first)",
            )
    objects = load_declarations(declarations_dir(settings))
    yaml_path = write_feature_store_yaml(settings)
    ensure_online_keyspace(settings)
    with _opened(settings, "applying the feature definitions") as store:
        store.apply(objects)
        views = store.list_feature_views()
    return {
        "objects": sorted(getattr(o, "name", "") for o in objects),
        "feature_store_yaml": str(yaml_path),
        "features": {view.name: len(view.features) for view in views},
    }


def materialize(settings: Settings, start: datetime, end: datetime) -> dict[str, Any]:
    """Load the latest feature row per sensor in [start, end] into the online store."""
    import contextlib
    import io

    with _opened(settings, "materializing") as store:
        # Feast prints a coloured progress report per view; the caller reports the outcome.
        with contextlib.redirect_stdout(io.StringIO()):
            store.materialize(start_date=start, end_date=end)
        views = store.list_feature_views()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "views": [v.name for v in views],
    }


def _refs(store: FeatureStore, names: Sequence[str]) -> list[str]:
    """`view:feature` references of feature names (each name lives in exactly one view)."""
    owner: dict[str, str] = {}
    for view in store.list_feature_views():
        for feature in view.features:
            owner[feature.name] = view.name
    missing = [n for n in names if n not in owner]
    if missing:
        raise NotFound(
            "feature in the Feast registry",
            f"{missing[0]} (export and apply the features for this model spec first)",
        )
    return [f"{owner[n]}:{n}" for n in names]


def historical_features(
    settings: Settings, keys: pd.DataFrame, spec: FeatureSpec, *, require_all: bool = True
) -> pd.DataFrame:
    """Point-in-time correct features for (sensor_id, ts) rows, aligned with `keys`' index.

    Each row gets the latest exported feature row of its sensor at or before its time (within
    the views' TTL). With `require_all`, a row that matched nothing raises: training on
    features Feast never had would silently train on fill values.
    """
    from sensorguard.featurestore.export import entity_rows
    from sensorguard.transforms import feature_names

    store = feature_store(settings)
    names = feature_names(spec)
    frame = store.get_historical_features(
        entity_df=entity_rows(keys), features=_refs(store, names)
    ).to_df()
    # The retrieval answers row for row in entity order (sensorguard's offline store keeps it).
    result = frame[names].astype(float)
    result.index = keys.index
    unmatched = int(result.isna().all(axis=1).sum())
    if unmatched and require_all:
        raise NotFound(
            "feature rows in Feast",
            f"{unmatched} of {len(result)} readings between {keys['ts'].min()} and "
            f"{keys['ts'].max()} (run `sensorguard features export` over that window, then apply)",
        )
    return result


def online_features(
    settings: Settings, sensor_ids: Sequence[str], names: Sequence[str] | None = None
) -> pd.DataFrame:
    """The latest materialised features of sensors (all of the feature service by default)."""
    rows = [{ENTITY_KEY: s} for s in sensor_ids]
    with _opened(settings, "reading online features") as store:
        if names is None:
            response = store.get_online_features(
                features=store.get_feature_service(FEATURE_SERVICE), entity_rows=rows
            )
        else:
            response = store.get_online_features(features=_refs(store, names), entity_rows=rows)
        frame: pd.DataFrame = response.to_df()
    return frame
