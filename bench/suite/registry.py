"""The benchmarks `sensorguard bench` knows: name -> what it measures, its body, what it needs.

Plain data, no imports: the CLI reads it to list the benchmarks without loading any of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str
    target: str  # "module:function" under bench/suite, called with a Context
    needs: tuple[str, ...] = ()  # shared servers on 127.0.0.1
    platform: bool = False  # needs the trained platform (built once per run, ~40 s)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "ingest",
        "HTTP and MQTT ingest -> Kafka vs kafka-python's producer sending the same records",
        "ingest:run",
        ("kafka", "mosquitto"),
    ),
    Benchmark(
        "writer",
        "store writer Kafka -> Cassandra vs execute_concurrent of prepared inserts",
        "writer:run",
        ("kafka", "cassandra"),
    ),
    Benchmark(
        "stream",
        "stream scorer end to end on Kafka + Cassandra vs raw consume and the Cassandra baseline",
        "stream:run",
        ("kafka", "cassandra"),
        platform=True,
    ),
    Benchmark(
        "serving",
        "`bentoml serve` POST /score (1 and 100 readings) vs a plain Starlette route, bare call",
        "serving:run",
        platform=True,
    ),
    Benchmark(
        "feast",
        "Feast online read (Cassandra online store) vs a raw prepared SELECT",
        "feast:run",
        ("cassandra",),
    ),
    Benchmark(
        "detectors",
        "default candidates: 100-row call at 1M training rows, fit time, doubling the rows",
        "detectors:run",
    ),
    Benchmark(
        "backtest",
        "`sensorguard backtest` of a 10k-row, 8-channel CSV",
        "backtest:run",
    ),
    Benchmark(
        "mqtt-e2e",
        "MQTT publish -> bridge -> Kafka -> stream scorer -> anomaly-scores at 1,000 readings/s",
        "stream:run_mqtt_e2e",
        ("kafka", "cassandra", "mosquitto"),
        platform=True,
    ),
    Benchmark(
        "demo",
        "`sensorguard demo --fresh` wall time (what `make demo` runs, warm)",
        "backtest:run_demo",
    ),
)

BY_NAME = {b.name: b for b in BENCHMARKS}
