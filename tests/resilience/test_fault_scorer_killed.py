"""The stream scorer process SIGKILLed mid-batch, then restarted: one score per reading.

`sensorguard score stream` publishes a batch's verdicts to `anomaly-scores`, writes them to
the store's scores, and only then commits the batch's offsets. A kill anywhere in between
replays that one batch: its verdicts may reach the topic twice (at least once), while the
store, upserting by (sensor_id, ts), keeps exactly one score per reading.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_support import (
    PrivateServers,
    Trained,
    assert_at_least_once,
    assert_exactly,
    cli_env,
    kill_process,
    report,
    run_cli,
    start_cli,
    stored_scores,
    topic_scores,
    wait_until,
)

from integration.integration_support import ts_ms
from sensorguard.errors import BackendUnavailable
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA
from sensorguard.stream.codec import encode_reading
from sensorguard.wiring import open_configured_store, open_configured_stream

pytestmark = [pytest.mark.integration, pytest.mark.faults]

BATCH = 50  # readings per poll, scored as one micro-batch


def test_scorer_killed_mid_batch_scores_each_reading_once(
    private_servers: PrivateServers,
    trained: Trained,
    kafka_url: str,
    cassandra_url: str,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    # The trained platform's registry and sensors; the private Kafka and Cassandra.
    settings = trained.settings.model_copy(
        update={"stream_url": kafka_url, "store_url": cassandra_url}
    )
    sensors, start, end = trained.sim.sensors, trained.live[0].ts, trained.sim.end
    sent = frozenset((r.sensor_id, ts_ms(r.ts)) for r in trained.live)
    stream, store = open_configured_stream(settings), open_configured_store(settings)

    def scored_at_least(n: int) -> bool:
        try:
            return len(stored_scores(store, sensors, start, end).distinct) >= n
        except BackendUnavailable:
            return False

    try:
        stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in trained.live])
        env = cli_env(settings, SENSORGUARD_MODEL_SPECS_DIR=str(settings.model_specs_dir))
        args = ["score", "stream", "--no-shadow", "--batch-size", str(BATCH), "--metrics-port", "0"]
        log = tmp_path / "scorer.log"
        victim = start_cli(args, env, log)
        wait_until(
            lambda: scored_at_least(len(sent) // 5) or victim.poll() is not None,
            120,
            "the scorer to store a fifth of the scores",
        )
        kill_process(victim, log)
        at_kill = stored_scores(store, sensors, start, end)
        out = run_cli([*args, "--until-idle", "5"], env, timeout_s=180)
        polled = int(out.split(" of ")[1].split()[0])
        in_store = stored_scores(store, sensors, start, end)
        on_topic = topic_scores(stream, ANOMALY_SCORES)
    finally:
        store.close()
        stream.close()

    report(
        "scorer-kill-9",
        sent=len(sent),
        scored_at_kill=len(at_kill.distinct),
        restarted_scorer_polled=polled,
        stored=in_store,
        scored=on_topic,
        topic=str(on_topic),
        duration_s=round(time.monotonic() - began, 1),
    )
    assert len(at_kill.distinct) < len(sent), "killed after everything was scored: proves nothing"
    # The restart resumed from the committed offsets: it read again at most the one batch in
    # hand at the kill (scored, published, maybe stored, not committed).
    assert 0 <= len(at_kill.distinct) + polled - len(sent) <= BATCH
    # The store: every reading scored, exactly one row each.
    assert_exactly(sent, "scores in Cassandra", in_store)
    # The topic: every reading's verdict at least once; repeats only from that replayed batch.
    assert_at_least_once(sent, ANOMALY_SCORES, on_topic)
    assert on_topic.duplicates <= BATCH, f"{on_topic.duplicates} repeated verdicts"
