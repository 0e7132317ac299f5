"""`sensorguard ingest …`: the HTTP front door, the MQTT bridge and the store writer."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from sensorguard.cli._common import friendly_errors

app = typer.Typer(
    help="Get readings in: HTTP and MQTT front doors, and the writer that stores them.",
    no_args_is_help=True,
)


@app.command("serve")
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: settings]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: settings, 8000]")] = None,
) -> None:
    """Serve POST /v1/readings: validate a batch, publish good rows, dead-letter bad ones.

    Every route needs an API key (X-API-Key or Authorization: Bearer; keys come from
    `sensorguard users key-create`); only SENSORGUARD_ENV=development may turn that off,
    with SENSORGUARD_REQUIRE_API_KEY=false.

    Example:  curl -XPOST localhost:8000/v1/readings -H 'content-type: application/json'
    -H "X-API-Key: $KEY"
    -d '{"readings":[{"sensor_id":"th-001","ts":"2026-01-01T00:00:00Z","channels":{"temperature":21.5}}]}'
    """
    import uvicorn

    from sensorguard.auth import Authorizer
    from sensorguard.ingest.http import create_app
    from sensorguard.monitoring import ingest_counts, publisher_for
    from sensorguard.settings import get_settings
    from sensorguard.wiring import build_pipeline, open_configured_metadata, open_configured_stream

    settings = get_settings()
    metadata = open_configured_metadata(settings)
    stream = open_configured_stream(settings)
    pipeline = build_pipeline(settings, metadata, stream)
    publisher = publisher_for(
        stream, settings, "ingest-http", error_fields=("dead_lettered",), dead_letters=True
    )
    with publisher.in_background(ingest_counts("http")):
        uvicorn.run(
            create_app(pipeline, settings, authorizer=Authorizer(metadata, settings)),
            host=host or settings.ingest_host,
            port=port or settings.ingest_port,
            log_level="info",
        )


@app.command("mqtt")
@friendly_errors
def mqtt(
    url: Annotated[
        str | None, typer.Option(help="Broker, mqtt://HOST[:PORT] [default: settings]")
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="MQTT client id; keep it stable, the broker holds unacknowledged messages "
            "for it [default: settings, sensorguard-bridge]"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics and /healthz; 0: none [default: settings, 8005]."),
    ] = None,
) -> None:
    """Bridge MQTT topics sensors/<site>/<sensor_id> into the stream (QoS 1, at least once).

    Every message is validated, published and dead-lettered like a POST to `ingest serve`. A payload is one reading or a JSON list of readings of the topic's sensor. A message is
    acknowledged only once published, so nothing the broker accepted is lost if the bridge
    stops; run until SIGTERM or Ctrl-C. A message over the ingest limits, and a sensor's
    readings over its rate, are dead-lettered with the reason, so no sensor holds up another.

    Example:  mosquitto_pub -q 1 -t sensors/plant-1/th-101
    -m '{"sensor_id":"th-101","ts":"2026-01-01T00:00:00Z","channels":{"temperature":21.5}}'
    """
    from sensorguard.ingest.mqtt import MqttBridge
    from sensorguard.monitoring import publisher_for, serve_metrics
    from sensorguard.settings import get_settings
    from sensorguard.wiring import build_pipeline, open_configured_metadata, open_configured_stream

    settings = get_settings()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metadata = open_configured_metadata(settings)
    stream = open_configured_stream(settings)
    bridge = MqttBridge(
        build_pipeline(settings, metadata, stream),
        url or settings.mqtt_url,
        client_id=client_id or settings.mqtt_client_id,
        settings=settings,
    )
    port = settings.mqtt_metrics_port if metrics_port is None else metrics_port
    publisher = publisher_for(
        stream, settings, "mqtt-bridge", error_fields=("publish_retries", "rejected")
    )
    try:
        with serve_metrics("MQTT bridge", settings, port, announce=typer.echo):
            bridge.run_forever(stop, publisher)
    finally:
        stream.close()
        metadata.close()
    stats = bridge.stats
    typer.echo(
        f"acknowledged {stats.messages} messages ({stats.readings} readings): "
        f"{stats.accepted} accepted, {stats.rejected} dead-lettered "
        f"({stats.malformed} malformed, {stats.mismatched} sensor mismatches, "
        f"{stats.oversized} oversized messages, {stats.rate_limited} over the rate); "
        f"{stats.connects} connects, {stats.publish_retries} publish retries"
    )


@app.command("run-writer")
@friendly_errors
def run_writer_cmd(
    until_idle: Annotated[
        float | None,
        typer.Option(
            help="Exit after this many seconds without new readings (default: run forever)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Records per poll and per store write.")
    ] = 1000,
    group: Annotated[
        str, typer.Option(help="Consumer group (offsets are kept per group).")
    ] = "store-writer",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics and /healthz; 0: none [default: settings, 8004]."),
    ] = None,
) -> None:
    """Move readings from the `sensor-data` stream into the store (at least once, idempotent)."""
    from sensorguard.ingest.writer import run_writer
    from sensorguard.monitoring import publisher_for, serve_metrics
    from sensorguard.settings import get_settings
    from sensorguard.stream import SENSOR_DATA
    from sensorguard.wiring import open_configured_store, open_configured_stream

    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stream, store = open_configured_stream(settings), open_configured_store(settings)
    port = settings.writer_metrics_port if metrics_port is None else metrics_port
    publisher = publisher_for(
        stream,
        settings,
        "store-writer",
        lag_group=group,
        lag_topics=[SENSOR_DATA],
        error_fields=("retries", "dead_lettered", "commit_failures"),
        dead_letters=True,
    )
    try:
        with serve_metrics("store writer", settings, port, announce=typer.echo):
            stats = run_writer(
                stream,
                store,
                group=group,
                batch_size=batch_size,
                until_idle_s=until_idle,
                stop=stop,
                publisher=publisher,
            )
    finally:
        store.close()
        stream.close()
    typer.echo(
        f"written {stats.written} readings from {stats.polled} records "
        f"({stats.dead_lettered} dead-lettered, {stats.retries} retries)"
    )
