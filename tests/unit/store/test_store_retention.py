"""Retention in the SQLite store: rows past retention_days are not kept, by write or by purge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sensorguard.cli.store import app as store_app
from sensorguard.schemas import Reading, Score
from sensorguard.settings import Settings, get_settings
from sensorguard.store import open_store
from sensorguard.store.sqlite import SqliteStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clocks:
    def __init__(self) -> None:
        self.now = NOW
        self.mono = 0.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono


def reading(sensor: str, age_days: float) -> Reading:
    return Reading(sensor_id=sensor, ts=NOW - timedelta(days=age_days), channels={"t": 1.0})


def score(sensor: str, age_days: float) -> Score:
    return Score(
        sensor_id=sensor,
        ts=NOW - timedelta(days=age_days),
        score=0.5,
        flag=False,
        threshold=1.0,
        model="m",
        model_version="1",
    )


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def store(tmp_path: Path, clocks: Clocks) -> Iterator[SqliteStore]:
    s = SqliteStore(
        tmp_path / "store.db",
        retention_days=30,
        purge_interval_s=600,
        clock=clocks.wall,
        monotonic=clocks.monotonic,
    )
    s.migrate()
    yield s
    s.close()


def everything(store: SqliteStore) -> tuple[list[Reading], list[Score], list[Score]]:
    start, end = NOW - timedelta(days=400), NOW + timedelta(days=1)
    return (
        store.read_readings(["a", "b"], start, end),
        store.read_scores(["a", "b"], start, end),
        store.read_scores(["a", "b"], start, end, shadow=True),
    )


def test_rows_already_past_retention_are_not_stored(store: SqliteStore) -> None:
    assert store.write_readings([reading("a", 31), reading("a", 29)]) == 1
    assert store.write_scores([score("a", 45), score("a", 1)]) == 1
    assert store.write_scores([score("a", 30.01), score("b", 0)], shadow=True) == 1
    readings, scores, shadow = everything(store)
    assert [r.ts for r in readings] == [NOW - timedelta(days=29)]
    assert [s.ts for s in scores] == [NOW - timedelta(days=1)]
    assert [s.sensor_id for s in shadow] == ["b"]


def test_what_ages_out_is_purged_by_the_next_write_once_the_interval_passed(
    store: SqliteStore, clocks: Clocks
) -> None:
    store.write_readings([reading("a", 20), reading("b", 5)])
    store.write_scores([score("a", 20)])
    store.write_scores([score("b", 20)], shadow=True)
    clocks.now += timedelta(days=15)  # the 20-day-old rows are 35 days old now
    clocks.mono += 60  # within the interval: no purge yet
    store.write_readings([reading("b", 0)])
    assert len(everything(store)[0]) == 3
    clocks.mono += 600
    store.write_readings([reading("b", 0)])  # this write purges
    readings, scores, shadow = everything(store)
    assert sorted((r.sensor_id, r.ts) for r in readings) == [
        ("b", NOW - timedelta(days=5)),
        ("b", NOW),
    ]
    # Only readings were written, but every table is purged.
    assert scores == [] and shadow == []


def test_purge_deletes_at_once_and_counts_per_table(store: SqliteStore, clocks: Clocks) -> None:
    store.write_readings([reading("a", 10), reading("b", 10), reading("b", 1)])
    store.write_scores([score("a", 10)])
    clocks.now += timedelta(days=25)
    assert store.purge() == {"readings": 2, "scores": 1, "shadow_scores": 0}
    assert store.purge() == {"readings": 0, "scores": 0, "shadow_scores": 0}


def test_a_store_without_retention_keeps_everything(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "keep.db")
    s.migrate()
    try:
        assert s.write_readings([reading("a", 4000)]) == 1
        assert s.purge() == {"readings": 0, "scores": 0, "shadow_scores": 0}
    finally:
        s.close()


def test_the_configured_store_applies_the_configured_retention(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "sg", retention_days=7)
    s = open_store(settings.store_url, settings=settings)
    try:
        assert isinstance(s, SqliteStore) and s.retention_days == 7
        old = Reading(sensor_id="a", ts=datetime.now(UTC) - timedelta(days=8), channels={"t": 1})
        assert s.write_readings([old]) == 0
    finally:
        s.close()


def test_the_ingest_door_refuses_what_retention_would_not_keep(tmp_path: Path) -> None:
    """Accepted means stored: a reading past retention is refused with the reason, not dropped."""
    from sensorguard.errors import ValidationFailed
    from sensorguard.schemas import Sensor
    from sensorguard.wiring import build_validator, open_configured_metadata

    settings = Settings(data_dir=tmp_path / "sg", retention_days=7, max_reading_age_days=3650)
    metadata = open_configured_metadata(settings)
    try:
        metadata.seed_builtin_types(actor="test")
        metadata.add_sensors(
            [Sensor(sensor_id="th-1", sensor_type="climate", site="p")], actor="test"
        )
        validator = build_validator(settings, metadata)
        now = datetime.now(UTC)
        fresh = {"sensor_id": "th-1", "ts": (now - timedelta(days=6)).isoformat()}
        assert validator.validate({**fresh, "channels": {"temperature": 20.0}}).sensor_id == "th-1"
        old = {"sensor_id": "th-1", "ts": (now - timedelta(days=8)).isoformat()}
        with pytest.raises(ValidationFailed) as err:
            validator.validate({**old, "channels": {"temperature": 20.0}})
        assert err.value.field == "ts" and "within the last 7 days" in str(err.value)
    finally:
        metadata.close()


def test_store_stats_and_purge_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORGUARD_RETENTION_DAYS", "10")
    get_settings.cache_clear()
    now = datetime.now(UTC).replace(microsecond=0)
    s = SqliteStore.from_url(get_settings().store_url)  # no retention: write old rows too
    s.migrate()
    s.write_readings(
        [
            Reading(sensor_id="a", ts=now - timedelta(days=12), channels={"t": 1}),
            Reading(sensor_id="a", ts=now - timedelta(days=2), channels={"t": 2}),
            Reading(sensor_id="b", ts=now - timedelta(hours=1), channels={"t": 3}),
        ]
    )
    s.close()
    runner = CliRunner()
    result = runner.invoke(store_app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    tables = {t["table"]: t for t in json.loads(result.output)}
    assert set(tables) == {"readings", "scores", "shadow_scores"}
    readings = tables["readings"]
    assert readings["rows"] == 3 and readings["bytes"] > 0
    assert datetime.fromisoformat(readings["oldest"]) == now - timedelta(days=12)
    assert datetime.fromisoformat(readings["newest"]) == now - timedelta(hours=1)
    assert tables["scores"]["rows"] == 0 and tables["scores"]["oldest"] is None
    table = runner.invoke(store_app, ["stats"])
    assert (
        table.exit_code == 0 and "readings" in table.output and "retention 10 days" in table.output
    )

    purged = runner.invoke(store_app, ["purge"])
    assert purged.exit_code == 0, purged.output
    assert "1 from readings" in purged.output
    after = {
        t["table"]: t for t in json.loads(runner.invoke(store_app, ["stats", "--json"]).output)
    }
    assert after["readings"]["rows"] == 2
    assert datetime.fromisoformat(after["readings"]["oldest"]) == now - timedelta(days=2)
