"""`sensorguard score …` and `sensorguard serve`: promoted models scoring live data."""

from __future__ import annotations

import os
import signal
import threading
from typing import Annotated

import typer

from sensorguard.cli._common import friendly_errors

app = typer.Typer(
    help="Score live data with the promoted models: the stream scorer.",
    no_args_is_help=True,
)


@app.command("stream")
@friendly_errors
def stream(
    group: Annotated[
        str, typer.Option(help="Consumer group; start more members with the same group to scale.")
    ] = "stream-scorer",
    batch_size: Annotated[
        int, typer.Option(min=1, help="Records per poll, scored as one micro-batch.")
    ] = 2000,
    until_idle: Annotated[
        float | None,
        typer.Option(help="Exit after this many seconds without new readings (default: never)."),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option(
            help="Also score with each group's @challenger into the shadow_scores table "
            "(never alerted on; compare with `sensorguard models compare GROUP --shadow`)."
        ),
    ] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics and /healthz; 0: none [default: settings, 8001]."),
    ] = None,
) -> None:
    """Score `sensor-data` with each sensor's group champion into `anomaly-scores` and the store.

    At least once and idempotent by (sensor_id, ts): offsets are committed only after the
    scores are published and stored. Champions are swapped when their alias moves (polled
    every SENSORGUARD_CHAMPION_POLL_S). Runs until SIGTERM or Ctrl-C, or --until-idle.

    Example:  sensorguard score stream --until-idle 10
    """
    from sensorguard.monitoring import publisher_for, serve_metrics
    from sensorguard.serving.champions import CHALLENGER
    from sensorguard.serving.scorer import build_live_scorer
    from sensorguard.serving.stream import ERROR_FIELDS, run_stream_scorer
    from sensorguard.settings import get_settings
    from sensorguard.stream import SENSOR_DATA
    from sensorguard.wiring import open_configured_store, open_configured_stream

    settings = get_settings()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stream_, store = open_configured_stream(settings), open_configured_store(settings)
    port = settings.scorer_metrics_port if metrics_port is None else metrics_port
    scorer = build_live_scorer(settings, store, stateful=True, surface="stream")
    challenger = (
        build_live_scorer(settings, store, alias=CHALLENGER, stateful=True, surface="stream")
        if shadow
        else None
    )
    for s in (scorer, challenger):
        if s is not None:
            s.models.refresh()
            s.models.start(settings.champion_poll_s)
    publisher = publisher_for(
        stream_,
        settings,
        "stream-scorer",
        lag_group=group,
        lag_topics=[SENSOR_DATA],
        error_fields=ERROR_FIELDS,
    )
    try:
        with serve_metrics("stream scorer", settings, port, announce=typer.echo):
            stats = run_stream_scorer(
                stream_,
                store,
                scorer,
                shadow=challenger,
                group=group,
                batch_size=batch_size,
                until_idle_s=until_idle,
                stop=stop,
                publisher=publisher,
            )
    finally:
        for s in (scorer, challenger):
            if s is not None:
                s.models.stop()
        store.close()
        stream_.close()
    typer.echo(
        f"scored {stats.scored} of {stats.polled} readings ({stats.flagged} flagged, "
        f"{stats.unscored} without a model, {stats.shadow_scored} shadow-scored); "
        f"{stats.retries} retries, {stats.rebalances} rebalances, "
        f"{stats.commit_failures} refused commits"
    )


def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address [default: settings, 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: settings, 3000]")] = None,
) -> None:
    """Serve the BentoML scoring service (serving/service.py): POST /score, GET /models.

    Every route needs an API key (X-API-Key or Authorization: Bearer). Champions are loaded
    at start and swapped when their alias moves.

    Example:  curl -XPOST localhost:3000/score -H "X-API-Key: $KEY" -H 'content-type: application/json'
    -d '{"readings":[{"sensor_id":"th-001","ts":"2026-01-01T00:00:00Z","channels":{"temperature":21.5}}]}'
    """
    from sensorguard.serving import process
    from sensorguard.settings import get_settings

    settings = get_settings()
    args = process.bentoml_command(host or settings.serve_host, port or settings.serve_port)
    os.execve(args[0], args, process.settings_env(settings))
