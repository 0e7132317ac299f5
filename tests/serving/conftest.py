"""A trained platform for the serving tests: a climate fleet in the embedded store, a champion."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import LIVE_HOURS, Served

from model.model_helpers import trained_climate


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root: Path = tmp_path_factory.mktemp("served")
    settings, sim, until = trained_climate(root / "sg", live_hours=LIVE_HOURS)
    return Served(settings, sim, until)


@pytest.fixture(scope="session")
def keys(served: Served) -> dict[str, str]:
    """One API key per role in the served platform's metadata."""
    from auth_support import issue_keys
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(served.settings)
    try:
        return dict(issue_keys(metadata, device_sensors=[served.sim.sensors[0].sensor_id]))
    finally:
        metadata.close()


@pytest.fixture
def served_env(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """SENSORGUARD_* variables pointing at the served platform (for code that reads settings)."""
    from sensorguard.settings import get_settings

    monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(served.settings.data_dir))
    monkeypatch.setenv("SENSORGUARD_MODEL_SPECS_DIR", str(served.settings.model_specs_dir))
    monkeypatch.setenv("SENSORGUARD_ENV", "test")
    get_settings.cache_clear()
    return served
