"""Ingest into Kafka: `sensorguard ingest serve` (HTTP) and `sensorguard ingest mqtt` (the
bridge, on the shared Mosquitto) against kafka-python's producer sending the same records
straight to a topic. Rounds interleave the three; each counts until the last record is on
Kafka (a tail of `sensor-data` sees it)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from _harness import Row, row

if TYPE_CHECKING:
    from sensorguard.simulate import Simulation
    from suite import Context

BASELINE_TOPIC = "bench-producer-baseline"
HTTP_BATCH = 500


def producer_rate(kafka_url: str, settings: Any, sim: Simulation) -> float:
    """kafka-python's producer, configured like ours (acks=all, idempotent, same batch and
    linger), sending every reading JSON-encoded and keyed by sensor; counts to the last ack."""
    from kafka import KafkaProducer

    from sensorguard.stream.codec import encode_reading
    from sensorguard.stream.kafka import _BATCH_BYTES, KafkaURL

    parsed = KafkaURL.parse(kafka_url)
    topic = f"{parsed.namespace}.{BASELINE_TOPIC}"
    producer = KafkaProducer(
        bootstrap_servers=list(parsed.bootstrap), acks="all", enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms, batch_size=_BATCH_BYTES,
    )  # fmt: skip
    try:
        readings = list(sim.iter_readings())
        producer.send(topic, key=b"warm", value=b"{}").get(timeout=30)  # metadata, connections
        started = time.perf_counter()
        for r in readings:
            producer.send(topic, key=r.sensor_id.encode(), value=encode_reading(r))
        producer.flush(timeout=60)
        return len(readings) / (time.perf_counter() - started)
    finally:
        producer.close(timeout=10)


def arrived_rate(stream: Any, n: int, send: Any, timeout_s: float = 180.0) -> float:
    """Records/s from the first send until a tail of `sensor-data` has seen `n` more records."""
    from sensorguard.stream import SENSOR_DATA

    tail = stream.tail([SENSOR_DATA])
    try:
        started = time.perf_counter()
        send()
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {seen} of {n} readings reached Kafka in {timeout_s:g} s")
            seen += len(tail.poll(10_000, timeout_s=0.2))
        return n / (time.perf_counter() - started)
    finally:
        tail.close()


def run(ctx: Context) -> list[Row]:
    from pydantic import SecretStr

    from sensorguard.ingest.mqtt import publish_mqtt
    from sensorguard.settings import Settings
    from sensorguard.simulate import SimulationConfig, publish_http, simulate_fleet
    from sensorguard.wiring import open_configured_metadata, open_configured_stream
    from suite.backends import Child, Mosquitto, child_env, free_port, kafka_namespace, wait_http

    sensors, days = ctx.pick((6, 0.75), (20, 1.4))
    sim = simulate_fleet(
        SimulationConfig(sensors=sensors, sites=2, days=days, seed=9, fault_rate=0)
    )
    n = sum(1 for _ in sim.iter_raw())
    rounds = ctx.pick(1, 2)
    broker = Mosquitto.shared()
    folder = ctx.work_dir / "ingest"
    rates: dict[str, list[float]] = {"producer": [], "http": [], "mqtt": []}
    with kafka_namespace() as kafka_url:
        settings = Settings(
            data_dir=folder, stream_url=kafka_url, rate_limit_per_sensor=1e9,
            rate_limit_per_client=1e9, ingest_max_batch=5000,
        )  # fmt: skip
        metadata = open_configured_metadata(settings)
        metadata.seed_builtin_types(actor="bench")
        metadata.add_sensors(sim.sensors, upsert=True, actor="bench")
        metadata.add_user("bench-gateway", "device", actor="bench")
        _, key = metadata.create_api_key(
            "bench-gateway", sensors=[s.sensor_id for s in sim.sensors], actor="bench"
        )
        metadata.close()
        stream = open_configured_stream(settings)  # creates the topics
        stream.ensure_topics([BASELINE_TOPIC])
        port = free_port()
        client_id = f"sg-bench-{uuid.uuid4().hex[:8]}"
        env = child_env(
            settings, rate_limit_per_sensor="1e9", rate_limit_per_client="1e9",
            ingest_max_batch="5000", mqtt_url=broker.url, mqtt_client_id=client_id,
            **{k.removeprefix("SENSORGUARD_").lower(): v for k, v in broker.env.items()},
        )  # fmt: skip
        http = Child(["ingest", "serve", "--port", str(port)], env, folder / "ingest-http.log")
        bridge = Child(["ingest", "mqtt", "--metrics-port", "0"], env, folder / "ingest-mqtt.log")
        publisher = Settings(
            data_dir=folder, mqtt_publisher_username=broker.env["SENSORGUARD_MQTT_PUBLISHER_USERNAME"],
            mqtt_publisher_password=SecretStr(broker.publisher_password()),
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz", http, headers={"X-API-Key": key})
            time.sleep(3.0)  # the bridge connects and subscribes
            bridge.check()
            for i in range(rounds):
                rates["producer"].append(producer_rate(kafka_url, settings, sim))
                rates["http"].append(arrived_rate(
                    stream, n, lambda: publish_http(sim, base, batch_size=HTTP_BATCH, api_key=key)
                ))  # fmt: skip
                rates["mqtt"].append(arrived_rate(
                    stream, n, lambda: publish_mqtt(sim, broker.url, settings=publisher)
                ))  # fmt: skip
                ctx.progress(
                    f"round {i + 1}/{rounds}: producer {rates['producer'][-1]:,.0f}/s, HTTP "
                    f"{rates['http'][-1]:,.0f}/s, MQTT {rates['mqtt'][-1]:,.0f}/s"
                )
        finally:
            http.stop()
            bridge.stop()
            stream.close()
    b = max(rates["producer"])
    h, m = max(rates["http"]), max(rates["mqtt"])
    note = (
        f"{n:,} valid readings of {sensors} sensors per run, best of {rounds} interleaved rounds; "
        "baseline: kafka-python KafkaProducer (acks=all, idempotent, our batch size and linger) "
        "sending the JSON-encoded readings to a topic; HTTP: `sensorguard ingest serve` in its "
        f"own process, batches of {HTTP_BATCH} posted one after another (`publish_http`, as "
        "`sensorguard simulate` does) with a device API key; MQTT: `sensorguard ingest mqtt` in "
        "its own process on the shared Mosquitto (password + ACL), one reading per QoS 1 "
        "message as devices send (`publish_mqtt`); both counted until a tail of sensor-data "
        "has every record"
    )
    return [
        row("HTTP ingest -> Kafka vs kafka-python producer", "readings/s", h, b,
            ">= 0.6x baseline", h >= 0.6 * b, note=note,
            why="validation (pydantic + catalog) and JSON parsing of each batch run in the "
            "ingest process before the publish; see the ingest profile"),
        row("MQTT ingest (bridge) -> Kafka vs kafka-python producer", "readings/s", m, b,
            ">= 0.6x baseline", m >= 0.6 * b, note=note,
            why="one reading per MQTT message: each is a broker round trip (QoS 1 ack) and a "
            "paho callback before the bridge batches them; devices batching several readings "
            "per message, or more bridge instances sharing a subscription, would close it"),
    ]  # fmt: skip
