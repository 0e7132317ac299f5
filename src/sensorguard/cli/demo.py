"""`sensorguard demo`: the whole data path end to end on the configured backends."""

from __future__ import annotations

from typing import Annotated

import typer

from sensorguard.cli._common import cli_errors


def demo(
    sensors: Annotated[int, typer.Option(min=1, help="Simulated sensors.")] = 18,
    sites: Annotated[int, typer.Option(min=1, help="Sites they are spread over.")] = 3,
    days: Annotated[float, typer.Option(min=0.1, help="Simulated days of history.")] = 3.0,
    # Seed 1 is the first whose held-out day holds every fault kind in every group at 3 faults
    # per sensor-day (chosen for that coverage, before looking at any score).
    seed: Annotated[int, typer.Option(help="Simulator seed (same seed, same data).")] = 1,
    fault_rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Faults per sensor-day, of every kind: enough that the held-out day shows each "
            "kind in each group.",
        ),
    ] = 3.0,
    fresh: Annotated[
        bool,
        typer.Option(
            help="Delete the embedded data folder first (SENSORGUARD_DATA_DIR); with --services "
            "also empty the demo keyspace and use a fresh Kafka topic namespace."
        ),
    ] = False,
    services: Annotated[
        bool,
        typer.Option(
            help="Run on the real servers of `make services-up`: Mosquitto :1883 -> Kafka :9092 "
            "-> Cassandra :9042 (keyspace sensorguard_demo), part of the fleet over MQTT."
        ),
    ] = False,
    train: Annotated[
        bool,
        typer.Option(
            help="After storing, train each sensor group's candidates, register them in MLflow, "
            "promote the best to @champion, stream-score, alert and serve; then make the climate "
            "sensors noisier for two more days, check drift, retrain what drifted (the gate "
            "decides promotion) and write the HTML report (<data_dir>/reports/demo.html)."
        ),
    ] = True,
) -> None:
    """Simulate a fleet, ingest it, store it, train and promote, score, alert, inject drift,
    check it, retrain and promote again; ends with a summary of the steps and an HTML report.

    Runs on the embedded backends by default (no servers); --services runs the same path on
    Mosquitto, Kafka and Cassandra (or point SENSORGUARD_STORE_URL and SENSORGUARD_STREAM_URL at
    them yourself).
    """
    from sensorguard.demo import ServiceURLs, run_demo
    from sensorguard.settings import get_settings

    with cli_errors():
        report = run_demo(
            get_settings(),
            sensors=sensors,
            sites=sites,
            days=days,
            seed=seed,
            fault_rate=fault_rate,
            fresh=fresh,
            services=ServiceURLs() if services else None,
            train=train,
        )
    if report.lost:
        raise typer.Exit(1)
