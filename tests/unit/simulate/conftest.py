"""Fixtures for the simulator's tests: simulations built once per module."""

from __future__ import annotations

import pytest
from simulate_helpers import small_config

from sensorguard.simulate import Simulation, simulate_fleet


@pytest.fixture(scope="module")
def faulty_sim() -> Simulation:
    """Every fault kind, often enough that each appears."""
    return simulate_fleet(small_config(days=2.0, fault_rate=4.0))
