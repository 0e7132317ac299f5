"""The fuzzed apps on embedded backends, their keys, and the tally written to results.md."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id
from fuzz_support import RESULTS, TALLY, Tally, covers_folder

from auth_support import issue_keys
from sensorguard.metadata import MetadataStore
from sensorguard.schemas import Sensor
from sensorguard.settings import Settings
from sensorguard.stream import Stream

# schemathesis 4.32's `from_fixture` renames the running test through `Function._nodeid`, which
# pytest 9.2 replaced with a structured `_id` (pytest-benchmark#321 is the same break). This
# gives the old attribute back, read and write, until schemathesis follows.
if not hasattr(pytest.Function, "_nodeid"):

    def _get_nodeid(self: pytest.Function) -> str:
        return self.nodeid

    def _set_nodeid(self: pytest.Function, value: str) -> None:
        self._id = coerce_node_id(value)

    pytest.Function._nodeid = property(_get_nodeid, _set_nodeid)  # type: ignore[attr-defined]

SENSORS = (
    Sensor(sensor_id="th-1", sensor_type="climate", site="plant-1"),
    Sensor(sensor_id="th-2", sensor_type="climate", site="plant-2"),
    Sensor(sensor_id="snd-1", sensor_type="acoustic", site="plant-1"),
    Sensor(sensor_id="env-1", sensor_type="environment", site="plant-2"),
)
# Generous rate limits: the fuzz asks for thousands of rows a second, and a 429 would hide
# what the validator says about them (the limits have tests of their own).
UNLIMITED = {"rate_limit_per_client": 1e9, "rate_limit_per_sensor": 1e9}
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Platform:
    """Embedded backends in a folder of their own, a seeded fleet, one key per role."""

    settings: Settings
    metadata: MetadataStore
    keys: dict[str, str]


def make_platform(root: Path, **overrides: object) -> Platform:
    from sensorguard.wiring import open_configured_metadata

    settings = Settings(  # type: ignore[call-arg]
        data_dir=root, require_api_key=True, **{**UNLIMITED, **overrides}
    )
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types(actor="fuzz")
    metadata.add_sensors(SENSORS, actor="fuzz")
    keys = dict(issue_keys(metadata, device_sensors=["th-1"]))
    return Platform(settings, metadata, keys)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform per test module (module scope: schemathesis asks for it per operation)."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as env:
        # What the autouse fixture does per test, for this module's lifetime: no developer's
        # backends or .env reach the fuzzed apps.
        for var in ("STORE_URL", "STREAM_URL", "METADATA_URL", "MLFLOW_TRACKING_URI"):
            env.delenv(f"SENSORGUARD_{var}", raising=False)
        env.chdir(root)
        built = make_platform(root / "sg")
        yield built
        built.metadata.close()


@dataclass(frozen=True)
class Ingest:
    platform: Platform
    stream: Stream
    app: object


@pytest.fixture(scope="module")
def ingest(platform: Platform) -> Iterator[Ingest]:
    """The ingest app as `sensorguard ingest serve` wires it: cached metadata catalog, local log."""
    from sensorguard.auth import Authorizer
    from sensorguard.ingest.http import create_app
    from sensorguard.wiring import build_pipeline, open_configured_stream

    stream = open_configured_stream(platform.settings)
    stream.ensure_topics()
    pipeline = build_pipeline(platform.settings, platform.metadata, stream)
    app = create_app(pipeline, platform.settings, Authorizer(platform.metadata, platform.settings))
    yield Ingest(platform, stream, app)
    stream.close()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write results.md when the whole folder ran and passed (a partial run would undercount)."""
    fuzz_dir = Path(__file__).parent
    files = {item.path.name for item in session.items if item.path.parent == fuzz_dir}
    if exitstatus != 0 or not TALLY.endpoints or not covers_folder(files):
        return
    tests = sum(1 for item in session.items if item.path.parent == fuzz_dir)
    RESULTS.write_text(TALLY.markdown(seconds=time.monotonic() - _STARTED, tests=tests))
