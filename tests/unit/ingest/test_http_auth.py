"""The ingest app's routes all need a key; device keys send readings of their own sensors only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from auth_support import assert_every_route_guarded, issue_keys
from sensorguard.auth import Authorizer
from sensorguard.ingest.http import create_app, permission_for
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.metadata import MetadataStore
from sensorguard.metadata.roles import Role
from sensorguard.schemas import Sensor, utc_now
from sensorguard.settings import Settings
from sensorguard.stream import SENSOR_DATA, open_stream
from sensorguard.validation import ReadingValidator
from sensorguard.wiring import open_configured_metadata

SENSORS = [
    Sensor(sensor_id="th-1", sensor_type="climate", site="a"),
    Sensor(sensor_id="th-2", sensor_type="climate", site="a"),
    Sensor(sensor_id="th-3", sensor_type="climate", site="b"),
]
READINGS = "/v1/readings"


@dataclass
class Ingest:
    client: TestClient
    pipeline: IngestPipeline
    metadata: MetadataStore
    keys: dict[Role, str]

    def post(self, role: Role, rows: list[dict[str, object]]) -> int:
        """The status of POSTing `rows` with the key of `role`."""
        answer = self.client.post(
            READINGS, json={"readings": rows}, headers={"X-API-Key": self.keys[role]}
        )
        return int(answer.status_code)

    def published(self) -> int:
        return len(self.pipeline.stream.consumer([SENSOR_DATA], "count").poll(1000, timeout_s=0.3))


def make(tmp_path: Path, **overrides: float) -> Ingest:
    settings = Settings(data_dir=tmp_path, require_api_key=True, **overrides)  # type: ignore[arg-type]
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types()
    metadata.add_sensors(SENSORS)
    keys = issue_keys(metadata, device_sensors=["th-1"])
    pipeline = IngestPipeline(
        ReadingValidator(metadata), open_stream(settings.stream_url, partitions=2)
    )
    app = create_app(pipeline, settings, Authorizer(metadata, settings))
    return Ingest(TestClient(app), pipeline, metadata, keys)


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    made = make(tmp_path)
    yield made
    made.metadata.close()


def rows(*sensor_ids: str) -> list[dict[str, object]]:
    start = utc_now() - timedelta(hours=1)
    return [
        {
            "sensor_id": sid,
            "ts": (start + timedelta(seconds=i)).isoformat(),
            "channels": {"temperature": 21.0, "humidity": 50.0},
        }
        for i, sid in enumerate(sensor_ids)
    ]


def test_every_route_of_the_ingest_app_is_guarded(ingest: Ingest) -> None:
    checked = assert_every_route_guarded(ingest.client, ingest.client.app, ingest.keys)
    paths = {path for _, path in checked}
    # The routes most often left open by accident are in the table, hence checked.
    assert {READINGS, "/metrics", "/healthz", "/docs", "/openapi.json"} <= paths


def test_the_permission_map() -> None:
    assert permission_for("POST", READINGS) == "ingest"
    for method, path in [("GET", READINGS), ("GET", "/metrics"), ("GET", "/docs"), ("WS", "/x")]:
        assert permission_for(method, path) == "observe"


def test_prometheus_scrapes_metrics_with_a_bearer_key(ingest: Ingest) -> None:
    answer = ingest.client.get(
        "/metrics", headers={"Authorization": f"Bearer {ingest.keys['device']}"}
    )
    assert answer.status_code == 200
    assert "text/plain" in answer.headers["content-type"]


def test_a_device_sends_readings_of_its_own_sensors(ingest: Ingest) -> None:
    assert ingest.post("device", rows("th-1", "th-1")) == 200
    assert ingest.published() == 2


def test_a_device_batch_with_a_sensor_not_bound_to_its_key_is_refused_whole(
    ingest: Ingest,
) -> None:
    answer = ingest.client.post(
        READINGS,
        json={"readings": rows("th-1", "th-3", "th-2")},
        headers={"X-API-Key": ingest.keys["device"]},
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "POST /v1/readings is not allowed: user 'device' may not send readings of sensor "
        "'th-3' (site b): its key is bound to sensor th-1"
    )
    assert ingest.published() == 0
    (entry,) = ingest.metadata.audit_log(1, action="auth.refused")
    assert (entry.actor, entry.subject) == ("device", "POST /v1/readings")
    assert (entry.detail["status"], entry.detail["sensor_id"]) == (403, "th-3")


def test_an_operator_may_not_send_readings(ingest: Ingest) -> None:
    assert ingest.post("operator", rows("th-1")) == 403
    anonymous = ingest.client.post(READINGS, json={"readings": rows("th-1")})
    assert anonymous.status_code == 401
    assert ingest.published() == 0


def test_a_refused_batch_spends_no_rate_limit_tokens(tmp_path: Path) -> None:
    made = make(tmp_path, rate_limit_per_sensor=1.0, rate_limit_burst_s=5.0)  # 5 per sensor
    for _ in range(3):
        assert made.post("device", rows(*["th-1"] * 5, "th-2")) == 403
    assert made.post("device", rows(*["th-1"] * 5)) == 200
    assert made.post("device", rows("th-1")) == 429  # the bucket was full, and now it is spent
    made.metadata.close()


def test_the_rate_limit_is_per_user(tmp_path: Path) -> None:
    made = make(tmp_path, rate_limit_per_client=1.0, rate_limit_burst_s=4.0)  # 4 per user
    assert made.post("admin", rows("th-1", "th-2", "th-3", "th-1")) == 200
    assert made.post("admin", rows("th-2")) == 429
    assert made.post("data_scientist", rows("th-1", "th-2", "th-3")) == 200
    made.metadata.close()


def test_without_an_authorizer_the_app_builds_one_from_settings(tmp_path: Path) -> None:
    # A pepper unlike get_settings()'s: the app must verify with the settings it was given.
    settings = Settings(data_dir=tmp_path, require_api_key=True, api_key_pepper=SecretStr("p2"))
    metadata = open_configured_metadata(settings)
    metadata.seed_builtin_types()
    metadata.add_sensors(SENSORS)
    keys = issue_keys(metadata, roles=["data_scientist"])
    pipeline = IngestPipeline(
        ReadingValidator(metadata), open_stream(settings.stream_url, partitions=1)
    )
    with TestClient(create_app(pipeline, settings)) as client:  # the lifespan closes its store
        assert client.post(READINGS, json={"readings": rows("th-1")}).status_code == 401
        good = {"X-API-Key": keys["data_scientist"]}
        answer = client.post(READINGS, json={"readings": rows("th-1")}, headers=good)
        assert answer.status_code == 200, answer.text
    assert [e.actor for e in metadata.audit_log(action="auth.refused")] == ["anonymous"]
    metadata.close()
