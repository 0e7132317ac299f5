"""The stream scorer on real Kafka and Cassandra, as processes: kill -9, restart, two members."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import Served, backtest_scores

from sensorguard.schemas import Reading
from sensorguard.settings import Settings
from sensorguard.store import TimeSeriesStore, open_store
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA, open_stream
from sensorguard.stream.codec import decode_score, encode_reading
from servers import delete_topics, drop_keyspace, store_url, stream_url

pytestmark = pytest.mark.integration

SENSORGUARD = Path(sys.executable).with_name("sensorguard")


class Platform:
    """The served platform's registry and metadata, with Kafka and Cassandra for data."""

    def __init__(self, served: Served, stream: str, store: str) -> None:
        self.served = served
        self.settings: Settings = served.settings.model_copy(
            update={"stream_url": stream, "store_url": store, "stream_partitions": 2}
        )

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "SENSORGUARD_DATA_DIR": str(s.data_dir),
            "SENSORGUARD_MODEL_SPECS_DIR": str(s.model_specs_dir),
            "SENSORGUARD_STREAM_URL": s.stream_url,
            "SENSORGUARD_STORE_URL": s.store_url,
            "SENSORGUARD_STREAM_PARTITIONS": "2",
            "SENSORGUARD_ENV": "test",
        }

    def scorer(self, *extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(SENSORGUARD),
                "score",
                "stream",
                "--batch-size",
                "200",
                "--no-shadow",
                "--metrics-port",
                "0",
                *extra,
            ],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def store(self) -> TimeSeriesStore:
        return open_store(self.settings.store_url)

    def all_readings(self) -> list[Reading]:
        from sensorguard.wiring import open_configured_store

        embedded = open_configured_store(self.served.settings)
        ids = [s.sensor_id for s in self.served.sim.sensors]
        rows = embedded.read_readings(
            ids, self.served.sim.start, self.served.sim.end + timedelta(1)
        )
        embedded.close()
        return rows

    def load(self) -> list[Reading]:
        """Store the fleet's history in Cassandra and put all of it on `sensor-data`."""
        rows = self.all_readings()
        store = self.store()
        store.write_readings(rows)
        store.close()
        stream = open_stream(self.settings.stream_url, partitions=2)
        stream.ensure_topics()
        stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in rows])
        stream.close()
        return rows

    def scored_keys(self) -> list[tuple[str, object]]:
        store = self.store()
        ids = [s.sensor_id for s in self.served.sim.sensors]
        rows = store.read_scores(ids, self.served.sim.start, self.served.sim.end + timedelta(1))
        store.close()
        return [(s.sensor_id, s.ts) for s in rows]


@pytest.fixture
def platform(served: Served, tmp_path: Path) -> Iterator[Platform]:
    stream, store = stream_url("kafka", tmp_path), store_url("cassandra", tmp_path)
    yield Platform(served, stream, store)
    delete_topics(stream)
    drop_keyspace(store)


def finish(proc: subprocess.Popen[bytes], timeout_s: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout_s)
    text = out.decode()
    assert proc.returncode == 0, text[-3000:]
    return text


def published_keys(platform: Platform) -> set[tuple[str, object]]:
    stream = open_stream(platform.settings.stream_url, partitions=2)
    consumer = stream.consumer([ANOMALY_SCORES], "check")
    keys = set()
    while batch := consumer.poll(5000, timeout_s=3.0):
        keys.update((s.sensor_id, s.ts) for s in map(decode_score, (r.value for r in batch)))
    stream.close()
    return keys


def test_a_killed_scorer_restarts_and_every_reading_is_scored_once(platform: Platform) -> None:
    rows = platform.load()
    expected_keys = {(r.sensor_id, r.ts) for r in rows}
    first = platform.scorer()
    deadline = time.monotonic() + 240
    while len(platform.scored_keys()) < len(rows) // 5:
        assert first.poll() is None, first.communicate()[0].decode()[-3000:]
        assert time.monotonic() < deadline, "the scorer stored no scores in 240 s"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    partial = len(platform.scored_keys())
    assert partial < len(rows), "killed too late to mean anything"

    finish(platform.scorer("--until-idle", "8"))
    keys = platform.scored_keys()
    assert len(keys) == len(set(keys)) == len(rows)  # one row per reading, by key
    assert set(keys) == expected_keys
    assert published_keys(platform) == expected_keys  # at least once on the topic
    # The verdicts are the backtest's, including those of the member that warmed up from
    # Cassandra after the kill.
    store = platform.store()
    for sensor in platform.served.sim.sensors[:2]:
        expected = backtest_scores(platform.served, sensor.sensor_id)
        got = store.read_scores(
            [sensor.sensor_id], platform.served.sim.start, platform.served.sim.end + timedelta(1)
        )
        np.testing.assert_allclose(
            [s.score for s in got], [expected[s.ts][0] for s in got], rtol=1e-9, atol=1e-9
        )
    store.close()


def test_two_members_split_the_partitions_and_score_everything_once(platform: Platform) -> None:
    rows = platform.load()
    members = [platform.scorer("--until-idle", "10") for _ in range(2)]
    outputs = [finish(m) for m in members]
    keys = platform.scored_keys()
    assert len(keys) == len(set(keys)) == len(rows)
    assert set(keys) == {(r.sensor_id, r.ts) for r in rows}
    scored = [int(out.rsplit("scored ", 1)[1].split(" ", 1)[0]) for out in outputs]
    assert all(n > 0 for n in scored), outputs  # both members did part of the work
    assert sum(scored) >= len(rows)
