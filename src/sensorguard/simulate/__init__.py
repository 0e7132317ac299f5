"""Sensor-fleet simulator: realistic readings with labelled faults, written to files or sent to ingest.

Names resolve lazily so that importing the package (or its light `config` module, as the CLI
does at start-up) does not pull in numpy, pandas or httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "publish_http",
    "simulate_fleet",
    "write_simulation",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
