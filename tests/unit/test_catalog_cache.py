"""CachedCatalog: ids that cannot be sensor ids never reach the store, and the cache is bounded."""

from __future__ import annotations

from dataclasses import dataclass, field

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor, SensorType
from sensorguard.validation import CachedCatalog, StaticCatalog

KNOWN = StaticCatalog.of(
    [Sensor(sensor_id="th-1", sensor_type="climate", site="a")], BUILTIN_SENSOR_TYPES
)


@dataclass
class Counting:
    """A catalog that counts the lookups that got past the cache (SQLite queries, in real life)."""

    asked: list[str] = field(default_factory=list)

    def lookup(self, sensor_id: str) -> tuple[Sensor, SensorType] | None:
        self.asked.append(sensor_id)
        return KNOWN.lookup(sensor_id)


def test_an_id_that_is_not_a_sensor_id_is_never_looked_up_nor_cached() -> None:
    inner = Counting()
    catalog = CachedCatalog(inner)
    for bad in ("x" * 2048, "has space", "a/b", "+", ""):
        assert catalog.lookup(bad) is None
    assert inner.asked == []
    assert len(catalog) == 0


def test_made_up_ids_do_not_grow_the_cache_beyond_its_bound() -> None:
    inner = Counting()
    catalog = CachedCatalog(inner, max_entries=100)
    for i in range(5000):
        assert catalog.lookup(f"ghost-{i}") is None
    assert len(catalog) == 100
    assert len(inner.asked) == 5000  # each new miss costs one lookup, but none is kept forever


def test_eviction_is_least_recently_used_for_hits_and_misses_alike() -> None:
    inner = Counting()
    catalog = CachedCatalog(inner, max_entries=3)
    assert catalog.lookup("th-1") is not None
    for ghost in ("g-1", "g-2"):
        catalog.lookup(ghost)
    catalog.lookup("th-1")  # used again: now the most recent
    catalog.lookup("g-3")  # evicts g-1, the least recently used
    inner.asked.clear()
    assert catalog.lookup("th-1") is not None and catalog.lookup("g-2") is None
    assert inner.asked == []  # both still cached
    catalog.lookup("g-1")
    assert inner.asked == ["g-1"]  # evicted, so asked again
