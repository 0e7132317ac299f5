"""The stream scorer on the embedded stream and store: everything scored once, backtest verdicts."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest
from serving_helpers import Served, backtest_scores

from sensorguard.serving.scorer import build_live_scorer
from sensorguard.serving.stream import ScorerStats, run_stream_scorer
from sensorguard.settings import Settings
from sensorguard.stream import ANOMALY_SCORES, SENSOR_DATA
from sensorguard.stream.codec import decode_score, encode_reading


def embedded(served: Served, tmp_name: str) -> Settings:
    """The served platform with a stream of its own (the store and registry are shared)."""
    return served.settings.model_copy(
        update={"stream_url": f"sqlite:///{served.settings.data_dir / tmp_name}"}
    )


def publish_live(settings: Settings, served: Served) -> int:
    from sensorguard.wiring import open_configured_stream

    stream = open_configured_stream(settings)
    stream.ensure_topics()
    live = served.live_readings()
    stream.publish(SENSOR_DATA, [(r.sensor_id, encode_reading(r)) for r in live])
    stream.close()
    return len(live)


def score_stream(settings: Settings, *, stop_after: int | None = None) -> ScorerStats:
    from sensorguard.wiring import open_configured_store, open_configured_stream

    stream, store = open_configured_stream(settings), open_configured_store(settings)
    scorer = build_live_scorer(settings, store, stateful=True, surface="stream")
    scorer.models.refresh()
    stop = threading.Event()

    def maybe_stop(stats: ScorerStats, _: object) -> None:
        if stop_after is not None and stats.polled >= stop_after:
            stop.set()

    try:
        return run_stream_scorer(
            stream, store, scorer, batch_size=500, until_idle_s=1.0, stop=stop, on_batch=maybe_stop
        )
    finally:
        store.close()
        stream.close()


@pytest.mark.parametrize("restart", [False, True], ids=["one-run", "restarted-midway"])
def test_the_stream_scores_every_reading_once_with_the_backtest_verdict(
    served: Served, restart: bool
) -> None:
    from sensorguard.wiring import open_configured_store, open_configured_stream

    settings = embedded(served, f"stream-{restart}.db")
    sent = publish_live(settings, served)
    if restart:
        first = score_stream(settings, stop_after=1000)
        assert 0 < first.scored < sent
    score_stream(settings)

    stream = open_configured_stream(settings)
    consumer = stream.consumer([ANOMALY_SCORES], "check")
    published = []
    while batch := consumer.poll(5000, timeout_s=0.5):
        published.extend(decode_score(r.value) for r in batch)
    stream.close()
    assert {(s.sensor_id, s.ts) for s in published} == {
        (r.sensor_id, r.ts) for r in served.live_readings()
    }
    store = open_configured_store(settings)
    for sensor in served.sim.sensors:
        live = served.live_readings(sensor.sensor_id)
        stored = store.read_scores(
            [sensor.sensor_id], served.trained_until, served.sim.end + timedelta(days=1)
        )
        assert [s.ts for s in stored] == [r.ts for r in live]
        expected = backtest_scores(served, sensor.sensor_id)
        np.testing.assert_allclose(
            [s.score for s in stored], [expected[s.ts][0] for s in stored], rtol=1e-9, atol=1e-9
        )
        # Also after the restart: the new member replayed the episode state from the store.
        assert [s.flag for s in stored] == [expected[s.ts][1] for s in stored]
        assert [s.kind for s in stored] == [expected[s.ts][2] for s in stored]
    store.close()
