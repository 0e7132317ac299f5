"""The HTTP door under abuse and failure: byte limits, refunds on 503, honest partial answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from ingest_support import Refusing

from auth_support import issue_keys
from sensorguard.auth import Authorizer
from sensorguard.ingest.http import create_app
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.metadata import open_metadata
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor, utc_now
from sensorguard.settings import Settings
from sensorguard.stream import SENSOR_DATA, SENSOR_DATA_DLQ, open_stream
from sensorguard.validation import ReadingValidator, StaticCatalog

SENSORS = [Sensor(sensor_id="th-1", sensor_type="climate", site="a")]


def make(tmp_path: Path, **overrides: float) -> tuple[TestClient, Refusing]:
    settings = Settings(data_dir=tmp_path, require_api_key=True, **overrides)  # type: ignore[arg-type]
    stream = Refusing(open_stream(settings.stream_url, partitions=2))
    validator = ReadingValidator(StaticCatalog.of(SENSORS, BUILTIN_SENSOR_TYPES))
    metadata = open_metadata(settings.metadata_url, pepper="test-pepper")
    keys = issue_keys(metadata, roles=["data_scientist"])
    app = create_app(IngestPipeline(validator, stream), settings, Authorizer(metadata, settings))
    return TestClient(app, headers={"X-API-Key": keys["data_scientist"]}), stream


def rows(n: int) -> list[dict[str, object]]:
    start = utc_now() - timedelta(hours=1)
    return [
        {
            "sensor_id": "th-1",
            "ts": (start + timedelta(seconds=i)).isoformat(),
            "channels": {"temperature": 21.0},
        }
        for i in range(n)
    ]


def test_a_body_over_the_byte_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    client, stream = make(tmp_path, ingest_max_batch=10)  # 10 rows: a limit of 10 kB
    padded = {"readings": rows(1), "padding": "x" * 20_000}
    answer = client.post("/v1/readings", json=padded)
    assert answer.status_code == 413, answer.text
    assert "bytes" in answer.json()["detail"]
    assert stream.consumer([SENSOR_DATA], "t").poll(10, timeout_s=0.2) == []


def test_a_batch_the_stream_refused_costs_the_client_no_tokens(tmp_path: Path) -> None:
    client, stream = make(tmp_path, rate_limit_per_client=1.0, rate_limit_burst_s=10.0)
    stream.down = {SENSOR_DATA}
    assert client.post("/v1/readings", json={"readings": rows(10)}).status_code == 503
    stream.down = set()
    # The whole budget (10) is still there: the refused attempt spent nothing.
    answer = client.post("/v1/readings", json={"readings": rows(10)})
    assert answer.status_code == 200, answer.text


def test_when_only_the_dead_letters_fail_the_answer_says_what_was_accepted(
    tmp_path: Path,
) -> None:
    client, stream = make(tmp_path)
    stream.down = {SENSOR_DATA_DLQ}
    batch = [*rows(5), {"sensor_id": "th-1", "ts": "soon", "channels": {"temperature": 1.0}}]
    answer = client.post("/v1/readings", json={"readings": batch})
    assert answer.status_code == 503
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (5, 1)
    assert body["rejections"][0]["field"] == "ts"
    assert "not recorded" in body["detail"] and "nothing" not in body["detail"]
    # The answer is true: the five readings are on the stream.
    assert len(stream.consumer([SENSOR_DATA], "t").poll(10, timeout_s=0.3)) == 5
