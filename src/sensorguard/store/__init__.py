"""Time-series storage of readings and scores, chosen by URL (sqlite:// or cassandra://)."""

from __future__ import annotations

from sensorguard.errors import UnsupportedURL
from sensorguard.store.base import TimeSeriesStore

__all__ = ["TimeSeriesStore", "open_store"]


def open_store(url: str, *, migrate: bool = True) -> TimeSeriesStore:
    """Open the store a URL names; backends import their drivers only when chosen."""
    store: TimeSeriesStore
    if url.startswith("sqlite:///"):
        from sensorguard.store.sqlite import SqliteStore

        store = SqliteStore.from_url(url)
    elif url.startswith("cassandra://"):
        from sensorguard.store.cassandra import CassandraStore

        store = CassandraStore.from_url(url)
    else:
        raise UnsupportedURL("SENSORGUARD_STORE_URL", url, ("sqlite", "cassandra"))
    if migrate:
        store.migrate()
    return store
