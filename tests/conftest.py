"""Test-wide fixtures: every test gets its own embedded data folder and fresh settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorguard.settings import Settings, get_settings

# Set for the whole session, before any fixture of any scope builds Settings, and inherited by
# the servers tests start as child processes.
SESSION_ENV = {
    # Tests stamp readings with fixed dates, and retention counts from a reading's own time: the
    # default year would start refusing them as the calendar moves on. Retention tests set it.
    "SENSORGUARD_RETENTION_DAYS": "7300",
    # No placeholder, so servers started with SENSORGUARD_ENV=test (as the serving tests do)
    # accept it, and the keys a test issues verify in its child processes.
    "SENSORGUARD_API_KEY_PEPPER": "pytest-pepper-4f1c9a",
}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(SESSION_ENV)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point every backend URL at this test's tmp folder; never read a developer's .env."""
    for var in ("STORE_URL", "STREAM_URL", "METADATA_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(f"SENSORGUARD_{var}", raising=False)
    monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(tmp_path / "sg"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    return get_settings()
