"""Load a simulated fleet straight into the configured metadata and store (no HTTP, no stream).

For tests, notebooks and benchmarks that need training data in the store quickly; readings
pass the same validator as ingest, so out-of-range values are refused as they would be live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensorguard.settings import Settings
    from sensorguard.simulate import Simulation


@dataclass(frozen=True)
class Seeded:
    sensors: int
    stored: int
    refused: int


def seed_simulation(settings: Settings, sim: Simulation, *, batch: int = 5000) -> Seeded:
    """Register the fleet's sensors and store its valid readings; returns the counts."""
    from sensorguard.wiring import build_validator, open_configured_metadata, open_configured_store

    metadata = open_configured_metadata(settings)
    store = open_configured_store(settings)
    try:
        metadata.seed_builtin_types(actor="seed")
        metadata.add_sensors(sim.sensors, upsert=True, actor="seed")
        validator = build_validator(settings, metadata)
        stored = refused = 0
        rows = list(sim.iter_raw())
        for first in range(0, len(rows), batch):
            result = validator.validate_batch(rows[first : first + batch])
            stored += store.write_readings(result.accepted)
            refused += len(result.rejected)
        return Seeded(len(sim.sensors), stored, refused)
    finally:
        store.close()
        metadata.close()
