"""The stream scorer on the embedded stream and store: everything scored once, backtest verdicts."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from serving_helpers import Served, backtest_scores, embedded, publish_live, score_stream

from sensorguard.stream import ANOMALY_SCORES
from sensorguard.stream.codec import decode_score


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


def test_the_scorer_metrics_endpoint_needs_a_key_on_every_route(
    served_env: Served, keys: dict[str, str]
) -> None:
    from starlette.testclient import TestClient

    from auth_support import assert_every_route_guarded
    from sensorguard.serving.stream import scorer_metrics_app

    app = scorer_metrics_app(served_env.settings)
    with TestClient(app) as client:
        routes = assert_every_route_guarded(client, app, keys)
        assert ("GET", "/metrics") in routes
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {keys['device']}"})
        assert answer.status_code == 200 and "sensorguard_scores_total" in answer.text
