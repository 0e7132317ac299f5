"""Benchmark of the embedded data path: validation, the stream log, the store, each vs a baseline.

Run: `.venv/bin/python bench/embedded.py` (writes bench/results/embedded/). Baselines are measured
in the same run, so the ratios hold across machines even where absolute numbers do not.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from _harness import Case, best_of, write_results

from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Reading
from sensorguard.simulate import SimulationConfig, simulate_fleet
from sensorguard.store.sqlite import SqliteStore
from sensorguard.stream import SENSOR_DATA
from sensorguard.stream.codec import encode_reading
from sensorguard.stream.local import LocalLog
from sensorguard.validation import ReadingValidator, StaticCatalog

OUT = Path(__file__).parent / "results" / "embedded"


def main() -> None:
    sim = simulate_fleet(SimulationConfig(sensors=20, sites=4, days=1.0, seed=1, fault_rate=0))
    raw = [r for _, r in zip(range(20_000), sim.iter_raw(), strict=False)]
    validator = ReadingValidator(StaticCatalog.of(sim.sensors, BUILTIN_SENSOR_TYPES))
    readings = [validator.validate(r) for r in raw]
    n = len(raw)
    cases = []

    # Validation: full context checks vs parsing alone (the schema's share of the cost).
    full = best_of(lambda: validator.validate_batch(raw))
    parse_only = best_of(lambda: [Reading.model_validate(r) for r in raw])
    cases.append(
        Case(
            "validate_batch (schema + sensor type + ranges + skew)",
            "Reading.model_validate only",
            n,
            full,
            parse_only,
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        # Stream log: one durable transaction per batch vs one per message (what batching buys).
        messages = [(r.sensor_id, encode_reading(r)) for r in readings]
        log = LocalLog(Path(tmp) / "batched.db", partitions=6)
        log.ensure_topics()
        batched = best_of(
            lambda: [log.publish(SENSOR_DATA, messages[i : i + 1000]) for i in range(0, n, 1000)]
        )
        single_log = LocalLog(Path(tmp) / "single.db", partitions=6)
        single_log.ensure_topics()
        few = messages[:1000]
        single = best_of(lambda: [single_log.publish(SENSOR_DATA, [m]) for m in few]) * (
            n / len(few)
        )
        cases.append(
            Case(
                "LocalLog.publish, batches of 1000 (synchronous=FULL)",
                "one message per publish",
                n,
                batched,
                single,
            )
        )

        # Store: upsert through SqliteStore vs a bare executemany of the same rows (our overhead).
        store = SqliteStore(Path(tmp) / "store.db")
        store.migrate()
        ours = best_of(
            lambda: [store.write_readings(readings[i : i + 1000]) for i in range(0, n, 1000)]
        )
        conn = sqlite3.connect(Path(tmp) / "bare.db")
        conn.execute(
            "CREATE TABLE r (s TEXT, t INTEGER, c TEXT, q INTEGER, PRIMARY KEY (s, t)) WITHOUT ROWID"
        )
        rows = [(r.sensor_id, int(r.ts.timestamp() * 1000), "{}", r.seq) for r in readings]

        def bare() -> None:
            for i in range(0, n, 1000):
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO r VALUES (?, ?, ?, ?)", rows[i : i + 1000]
                    )

        cases.append(
            Case(
                "SqliteStore.write_readings, batches of 1000",
                "bare sqlite3 executemany",
                n,
                ours,
                best_of(bare),
            )
        )

    write_results(
        OUT,
        "Embedded data path",
        cases,
        notes=(
            "A ratio below 1 is the price of what the case adds over its baseline: context "
            "validation over parsing, JSON encoding and the model over bare SQLite. The stream "
            "log's ratio is what batching buys: each publish is one fsync'd transaction."
        ),
    )


if __name__ == "__main__":
    main()
