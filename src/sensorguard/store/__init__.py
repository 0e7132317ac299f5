"""Time-series storage of readings and scores, chosen by URL (sqlite:// or cassandra://)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard.errors import UnsupportedURL
from sensorguard.store.base import MaintainedStore, TableStats, TimeSeriesStore

if TYPE_CHECKING:
    from sensorguard.settings import Settings

__all__ = ["MaintainedStore", "TableStats", "TimeSeriesStore", "open_store"]


def open_store(
    url: str, *, migrate: bool = True, settings: Settings | None = None
) -> TimeSeriesStore:
    """Open the store a URL names; backends import their drivers only when chosen.

    `settings` (default: get_settings()) give the retention, credentials and TLS options.
    """
    from sensorguard.settings import get_settings

    settings = settings or get_settings()
    store: TimeSeriesStore
    if url.startswith("sqlite:///"):
        from sensorguard.store.sqlite import SqliteStore

        store = SqliteStore.from_url(url, settings=settings)
    elif url.startswith("cassandra://"):
        from sensorguard.store.cassandra import CassandraStore

        store = CassandraStore.from_url(url, settings=settings)
    else:
        raise UnsupportedURL("SENSORGUARD_STORE_URL", url, ("sqlite", "cassandra"))
    if migrate:
        store.migrate()
    return store
