"""The store writer process SIGKILLed mid-batch, then restarted: every reading is stored once.

`sensorguard ingest run-writer` commits a batch's offsets only after the store took it, so a
kill between the write and the commit replays that batch, which the upsert by
(sensor_id, ts) absorbs; a kill before the write loses nothing either, the offsets not having
moved.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_support import (
    PrivateServers,
    assert_exactly,
    cli_env,
    fleet,
    kill_process,
    open_world,
    report,
    run_cli,
    sent_identities,
    start_cli,
    wait_until,
)

from sensorguard.settings import Settings
from sensorguard.wiring import build_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.faults]

BATCH = 20  # small batches: the writer is always inside one when it is killed


def test_writer_killed_mid_batch_loses_and_doubles_nothing(
    private_servers: PrivateServers, kafka_url: str, cassandra_url: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    sim = fleet(sensors=4, hours=12, seed=34)  # 2,880 readings
    sent = sent_identities(sim)
    settings = Settings(data_dir=tmp_path / "sg", stream_url=kafka_url, store_url=cassandra_url)
    world = open_world(settings, sim)
    try:
        pipeline = build_pipeline(settings, world.metadata, world.stream)
        rows = list(sim.iter_raw())
        for first in range(0, len(rows), 500):
            assert len(pipeline.submit(rows[first : first + 500], source="test").accepted) > 0
        env = cli_env(settings)
        args = ["ingest", "run-writer", "--batch-size", str(BATCH), "--metrics-port", "0"]
        log = tmp_path / "writer.log"
        victim = start_cli(args, env, log)
        # Several batches in, so some were committed: a kill before the first commit would
        # make the restart read from the start, which proves little.
        wait_until(
            lambda: world.stored_at_least(len(sent) // 5) or victim.poll() is not None,
            90,
            "the writer to store a fifth",
        )
        kill_process(victim, log)
        at_kill = world.stored().total
        out = run_cli([*args, "--until-idle", "3"], env, timeout_s=120)
        polled = int(out.split(" from ")[1].split()[0])
        stored = world.stored()
    finally:
        world.close()

    report(
        "writer-kill-9",
        sent=len(sent),
        stored_at_kill=at_kill,
        restarted_writer_polled=polled,
        replayed=at_kill + polled - len(sent),
        stored=stored,
        duration_s=round(time.monotonic() - began, 1),
    )
    assert at_kill < len(sent), "killed after everything was stored: proves nothing"
    # Resumed from the committed offsets: what it read again is at most the one batch in hand
    # when it died (written, or partly, but not committed).
    assert 0 <= at_kill + polled - len(sent) <= BATCH
    assert_exactly(sent, "readings in Cassandra", stored)
