"""The scoring service called directly: verdicts, parity with the backtest path, errors, swaps."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from serving_helpers import Served, backtest_scores

from sensorguard.errors import ModelUnavailable, ValidationFailed
from sensorguard.schemas import Reading, utc_now
from sensorguard.serving.service import ScoringService


@pytest.fixture(scope="module")
def service(served: Served) -> ScoringService:
    core = ScoringService.from_settings(served.settings)
    core.start()
    yield core
    core.stop()


def test_every_reading_gets_the_backtest_verdict(served: Served, service: ScoringService) -> None:
    # The sensor with the most flagged live readings, so that flags are compared, not zeros.
    candidates = []
    for sensor in served.sim.sensors:
        expected = backtest_scores(served, sensor.sensor_id)
        live = served.live_readings(sensor.sensor_id)
        candidates.append((sum(expected[r.ts][1] for r in live), sensor.sensor_id, live, expected))
    flagged, _, live, expected = max(candidates, key=lambda c: c[0])
    assert flagged > 0
    # Called in slices of different sizes: each slice's history comes from the store.
    got = []
    for start in range(0, len(live), 97):
        got.extend(service.score(live[start : start + 97]).scores)
    assert len(got) == len(live)
    np.testing.assert_allclose(
        [v.score for v in got], [expected[r.ts][0] for r in live], rtol=1e-9, atol=1e-9
    )
    assert [v.flag for v in got] == [expected[r.ts][1] for r in live]
    assert [v.kind for v in got] == [expected[r.ts][2] for r in live]
    first = got[0]
    assert first.group == "climate" and first.model == "sensorguard-climate"
    assert first.history_rows > 0


def test_a_verdict_does_not_depend_on_the_other_sensors_in_the_call(
    served: Served, service: ScoringService
) -> None:
    a, b = (s.sensor_id for s in served.sim.sensors[:2])
    alone = service.score(served.live_readings(a)[:50]).scores
    mixed = service.score(served.live_readings(a)[:50] + served.live_readings(b)[:50]).scores
    assert [v.score for v in alone] == [v.score for v in mixed[:50]]


def test_a_sensor_registered_a_minute_ago_is_scored_from_its_first_reading(
    served: Served, service: ScoringService
) -> None:
    from sensorguard.schemas import Sensor
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(served.settings)
    metadata.add_sensor(Sensor(sensor_id="th-new-1", sensor_type="climate", site="site-0"))
    metadata.close()
    reading = Reading(
        sensor_id="th-new-1", ts=utc_now(), channels={"temperature": 21.0, "humidity": 45.0}
    )
    (verdict,) = service.score([reading]).scores
    assert verdict.group == "climate" and verdict.history_rows == 0
    assert np.isfinite(verdict.score)


def test_an_unknown_sensor_is_refused_naming_the_reading(service: ScoringService) -> None:
    reading = Reading(sensor_id="nobody", ts=utc_now(), channels={"temperature": 21.0})
    with pytest.raises(ValidationFailed, match=r"readings\[0\]\.sensor_id"):
        service.score([reading])


def test_too_many_rows_are_refused(service: ScoringService) -> None:
    reading = Reading(sensor_id="nobody", ts=utc_now(), channels={"temperature": 21.0})
    with pytest.raises(ValidationFailed, match="at most"):
        service.score([reading] * (service.max_rows + 1))


def test_a_group_without_a_champion_is_unavailable(served: Served) -> None:
    from sensorguard.serving.champions import Champions
    from sensorguard.serving.scorer import LiveScorer

    core = ScoringService.from_settings(served.settings)
    empty = Champions(core.champions._client, core.champions.specs, alias="nobody-has-this")
    core.scorer = LiveScorer(empty, core.scorer.group_of, None, stateful=False)
    reading = served.live_readings(served.sim.sensors[0].sensor_id)[0]
    with pytest.raises(ModelUnavailable, match="climate"):
        core.score([reading])


def test_a_champion_swap_under_load_fails_no_request(served: Served) -> None:
    from sensorguard.champion import champion_version, promote
    from sensorguard.training.tracking import mlflow_client

    client = mlflow_client(served.settings)
    current = str(champion_version(client, "climate").version)  # type: ignore[union-attr]
    versions = sorted(
        int(v.version) for v in client.search_model_versions("name='sensorguard-climate'")
    )
    other = str(next(v for v in versions if str(v) != current))
    core = ScoringService.from_settings(served.settings)
    core.start()
    readings = served.live_readings(served.sim.sensors[1].sensor_id)[:20]
    seen: set[str] = set()
    failures: list[BaseException] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                seen.update(v.model_version for v in core.score(readings).scores)
            except BaseException as err:
                failures.append(err)

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        promote(client, "climate", other, reason="swap test")
        core.champions.refresh()
        promote(client, "climate", current, reason="swap test, back")
        core.champions.refresh()
    finally:
        stop.set()
        for w in workers:
            w.join()
        core.stop()
    assert not failures, failures[:3]
    assert {current, other} <= seen
