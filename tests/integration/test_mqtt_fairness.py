"""One MQTT sensor cannot stall the fleet: floods and oversized messages are dead-lettered with
their reason while the other sensors' readings keep flowing (real Mosquitto, real Kafka)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from integration_support import Mosquitto, mqtt_send, read_topic, wait_for_readings

from sensorguard.ingest.mqtt import MqttBridge, sensor_topic
from sensorguard.ingest.pipeline import IngestPipeline
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor, to_utc_ms, utc_now
from sensorguard.settings import Settings
from sensorguard.store.sqlite import to_ms
from sensorguard.stream import SENSOR_DATA_DLQ, Stream, open_stream
from sensorguard.stream.codec import DEAD_LETTER_MAX_BYTES, decode_dead_letter
from sensorguard.validation import ReadingValidator, StaticCatalog

pytestmark = pytest.mark.integration

A = Sensor(sensor_id="flood-a", sensor_type="climate", site="s1")
B = Sensor(sensor_id="quiet-b", sensor_type="climate", site="s1")
# B's reading must come through well before A's flood could have been worked off at A's rate
# (5,000 readings at 50/s: 100 s). The bound is a deadline, not a timing assertion.
WITHIN_S = 30.0


@pytest.fixture
def stream(kafka_url: str) -> Iterator[Stream]:
    s = open_stream(kafka_url, partitions=3)
    yield s
    s.close()


def bridge(stream: Stream, broker: Mosquitto, **settings: float) -> MqttBridge:
    pipeline = IngestPipeline(
        ReadingValidator(StaticCatalog.of([A, B], BUILTIN_SENSOR_TYPES)), stream
    )
    return MqttBridge(
        pipeline,
        broker.bridge_url,
        client_id=f"fair-{uuid.uuid4().hex[:8]}",
        settings=Settings(**settings),  # type: ignore[arg-type]
    )


def readings(sensor: Sensor, n: int, *, start_s: int = 0) -> list[dict[str, object]]:
    start = utc_now().replace(microsecond=0) - timedelta(hours=3)
    return [
        {
            "sensor_id": sensor.sensor_id,
            "ts": (start + timedelta(seconds=start_s + i)).isoformat(),
            "channels": {"temperature": 21.0},
        }
        for i in range(n)
    ]


def key(row: dict[str, object]) -> tuple[str, int]:
    from datetime import datetime

    return (str(row["sensor_id"]), to_ms(to_utc_ms(datetime.fromisoformat(str(row["ts"])))))


def send(broker: Mosquitto, sensor: Sensor, payload: object) -> None:
    mqtt_send(
        broker.url, sensor_topic(sensor.site, sensor.sensor_id), [json.dumps(payload).encode()]
    )


def test_a_flooding_sensor_does_not_hold_up_another(mosquitto: Mosquitto, stream: Stream) -> None:
    flood = readings(A, 5000)
    extra = readings(A, 1, start_s=6000)[0]
    b_row = readings(B, 1)[0]
    with bridge(stream, mosquitto, rate_limit_per_sensor=50, rate_limit_burst_s=10) as running:
        send(mosquitto, A, flood)
        send(mosquitto, A, extra)
        send(mosquitto, B, b_row)
        assert key(b_row) in wait_for_readings(stream, {key(b_row)}, timeout_s=WITHIN_S)
        assert running.wait_for(3, timeout_s=WITHIN_S)
    # A's readings beyond its bucket (500) were dead-lettered as rate limited, not dropped.
    letters = [decode_dead_letter(r.value) for r in read_topic(stream, SENSOR_DATA_DLQ)]
    limited = [lt for lt in letters if "rate limited" in lt.reason]
    assert limited and all(lt.sensor_id == A.sensor_id for lt in limited)
    assert running.stats.accepted + len(limited) == len(flood) + 2
    assert len(limited) >= len(flood) - 500  # at least all of the flood beyond a full bucket


def test_an_oversized_message_is_dead_lettered_and_another_sensor_goes_on(
    mosquitto: Mosquitto, stream: Stream
) -> None:
    b_row = readings(B, 1)[0]
    # 100 rows a message, and so 100 kB.
    with bridge(stream, mosquitto, ingest_max_batch=100, rate_limit_per_sensor=1e9) as running:
        send(mosquitto, A, readings(A, 150))
        send(mosquitto, A, {**readings(A, 1)[0], "padding": "x" * 200_000})
        send(mosquitto, B, b_row)
        assert key(b_row) in wait_for_readings(stream, {key(b_row)}, timeout_s=WITHIN_S)
        assert running.wait_for(3, timeout_s=WITHIN_S)
    records = read_topic(stream, SENSOR_DATA_DLQ)
    letters = [decode_dead_letter(r.value) for r in records]
    assert all(len(r.value) <= DEAD_LETTER_MAX_BYTES for r in records)
    reasons = sorted(lt.reason for lt in letters if lt.sensor_id == A.sensor_id)
    assert len(reasons) == 2, reasons
    assert any("at most 100 rows per message, got 150" in r for r in reasons)
    assert any("at most 102400 bytes per message, got" in r for r in reasons)
    assert all(lt.truncated for lt in letters if lt.sensor_id == A.sensor_id)
