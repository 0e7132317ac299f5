"""HTTP ingest -> stream -> writer -> store, on the embedded backends: nothing accepted is lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from auth_support import issue_keys
from sensorguard.auth import Authorizer
from sensorguard.ingest.http import create_app
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.ingest.writer import run_writer
from sensorguard.metadata import open_metadata
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor, utc_now
from sensorguard.settings import Settings
from sensorguard.store import open_store
from sensorguard.stream import SENSOR_DATA_DLQ, open_stream
from sensorguard.stream.codec import decode_dead_letter
from sensorguard.validation import ReadingValidator, StaticCatalog

SENSORS = [Sensor(sensor_id=f"th-{i}", sensor_type="climate", site="a") for i in range(3)]


def make(tmp_path: Path, **overrides: float) -> tuple[TestClient, IngestPipeline]:
    """A client of the ingest app, sending a data scientist's key (which may ingest any sensor)."""
    settings = Settings(data_dir=tmp_path, require_api_key=True, **overrides)  # type: ignore[arg-type]
    stream = open_stream(settings.stream_url, partitions=2)
    validator = ReadingValidator(StaticCatalog.of(SENSORS, BUILTIN_SENSOR_TYPES))
    pipeline = IngestPipeline(validator, stream)
    metadata = open_metadata(settings.metadata_url, pepper="test-pepper")
    keys = issue_keys(metadata, roles=["data_scientist"])
    app = create_app(pipeline, settings, Authorizer(metadata, settings))
    return TestClient(app, headers={"X-API-Key": keys["data_scientist"]}), pipeline


def rows(n: int) -> list[dict[str, object]]:
    start = utc_now() - timedelta(hours=1)
    return [
        {
            "sensor_id": f"th-{i % 3}",
            "ts": (start + timedelta(seconds=i)).isoformat(),
            "channels": {"temperature": 20 + (i % 10) / 10, "humidity": 50.0},
            "seq": i,
        }
        for i in range(n)
    ]


def test_batch_roundtrip_keeps_every_accepted_row(tmp_path: Path) -> None:
    client, pipeline = make(tmp_path)
    good = rows(300)
    bad = [
        {**good[0], "channels": {"humidity": 180.2}},
        {**good[1], "sensor_id": "ghost-1"},
        {"sensor_id": "th-1"},
    ]
    answer = client.post("/v1/readings", json={"readings": good[:150] + bad + good[150:]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (300, 3)
    assert [r["index"] for r in body["rejections"]] == [150, 151, 152]
    assert "humidity must be within [0, 100] %RH, got 180.2" in body["rejections"][0]["reason"]

    # Replaying the same batch must not duplicate anything in the store.
    client.post("/v1/readings", json={"readings": good})
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    stats = run_writer(pipeline.stream, store, until_idle_s=0.3)
    assert stats.written == 600
    stored = store.read_readings(
        [s.sensor_id for s in SENSORS], utc_now() - timedelta(days=1), utc_now()
    )
    assert sorted((r.sensor_id, r.seq) for r in stored) == sorted(
        (str(r["sensor_id"]), r["seq"]) for r in good
    )

    dlq = pipeline.stream.consumer([SENSOR_DATA_DLQ], "t").poll(10, timeout_s=0.5)
    letters = [decode_dead_letter(r.value) for r in dlq]
    assert {lt.field for lt in letters} == {"channels.humidity", "sensor_id", "ts"}
    assert all(lt.source == "http" and lt.raw for lt in letters)


def test_rate_limit_answers_429_with_retry_after_and_accepts_nothing(tmp_path: Path) -> None:
    client, pipeline = make(tmp_path, rate_limit_per_sensor=1.0, rate_limit_burst_s=5.0)
    first = client.post("/v1/readings", json={"readings": rows(6)})  # 2 per sensor, fits
    assert first.status_code == 200
    second = client.post("/v1/readings", json={"readings": rows(30)})
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    consumer = pipeline.stream.consumer(["sensor-data"], "count")
    assert len(consumer.poll(100, timeout_s=0.3)) == 6


def test_oversized_batch_is_refused_with_the_limit(tmp_path: Path) -> None:
    client, _ = make(tmp_path, ingest_max_batch=10)
    answer = client.post("/v1/readings", json={"readings": rows(11)})
    assert answer.status_code == 413
    assert "at most 10 rows, got 11" in answer.text


def test_writer_never_commits_a_batch_the_store_did_not_take(tmp_path: Path) -> None:
    import threading

    from sensorguard.errors import BackendUnavailable

    client, pipeline = make(tmp_path)
    client.post("/v1/readings", json={"readings": rows(20)})
    stop = threading.Event()

    class DownStore:
        calls = 0

        def write_readings(self, readings: object) -> int:
            DownStore.calls += 1
            if DownStore.calls >= 3:
                stop.set()
            raise BackendUnavailable("store is down")

    stats = run_writer(pipeline.stream, DownStore(), stop=stop, until_idle_s=5)  # type: ignore[arg-type]
    assert stats.written == 0 and stats.retries >= 3
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    assert run_writer(pipeline.stream, store, until_idle_s=0.3).written == 20
