"""Sensor-fleet simulator: realistic readings with labelled faults, written to files or sent to ingest.

Names resolve lazily so that importing the package (or its light `config` module, as the CLI
does at start-up) does not pull in numpy, pandas or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorguard._lazy import lazy_exports

if TYPE_CHECKING:
    from sensorguard.simulate.config import FaultKind, FaultLabel, SimulationConfig
    from sensorguard.simulate.fleet import Simulation, build_fleet, simulate_fleet
    from sensorguard.simulate.io import load_simulation, write_simulation
    from sensorguard.simulate.publish import (
        PublishResult,
        RateLimiter,
        RetryPolicy,
        iter_wire_messages,
        publish_http,
    )
    from sensorguard.simulate.regime import noisier

_WHERE: dict[str, str] = {
    "FaultKind": "config",
    "FaultLabel": "config",
    "SimulationConfig": "config",
    "Simulation": "fleet",
    "build_fleet": "fleet",
    "simulate_fleet": "fleet",
    "load_simulation": "io",
    "write_simulation": "io",
    "PublishResult": "publish",
    "RateLimiter": "publish",
    "RetryPolicy": "publish",
    "iter_wire_messages": "publish",
    "publish_http": "publish",
    "noisier": "regime",
}

__all__ = [
    "FaultKind",
    "FaultLabel",
    "PublishResult",
    "RateLimiter",
    "RetryPolicy",
    "Simulation",
    "SimulationConfig",
    "build_fleet",
    "iter_wire_messages",
    "load_simulation",
    "noisier",
    "publish_http",
    "simulate_fleet",
    "write_simulation",
]


__getattr__ = lazy_exports(__name__, _WHERE)
