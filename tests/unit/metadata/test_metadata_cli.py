"""`sensorguard sensors`, `sensor-types` and `users` against a temporary metadata database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from sensorguard.cli.sensors import sensors_app, types_app
from sensorguard.cli.users import app as users_app
from sensorguard.metadata import MetadataStore, open_metadata
from sensorguard.settings import get_settings


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli' / 'metadata.db'}"
    monkeypatch.setenv("SENSORGUARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SENSORGUARD_METADATA_URL", url)
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER", "cli-test-pepper")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _store(url: str) -> MetadataStore:
    return open_metadata(url, pepper="cli-test-pepper")


runner = CliRunner()


def _ok(app: typer.Typer, *args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _fails(app: typer.Typer, *args: str) -> str:
    """Runs a command that must fail cleanly; returns its one-line stderr."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_sensor_add_list_show_remove(db_url: str) -> None:
    _ok(
        sensors_app,
        "add",
        "th-001",
        "--type",
        "climate",
        "--site",
        "plant-a",
        "--location",
        "hall 3",
        "--tag",
        "floor=2",
        "--tag",
        "vendor=acme",
        "--installed-on",
        "2024-03-01",
    )
    _ok(sensors_app, "add", "ac-001", "--type", "acoustic", "--site", "plant-b")

    listed = json.loads(_ok(sensors_app, "list", "--site", "plant-a", "--json").stdout)
    assert listed == [
        {
            "sensor_id": "th-001",
            "sensor_type": "climate",
            "site": "plant-a",
            "location": "hall 3",
            "tags": {"floor": "2", "vendor": "acme"},
            "installed_on": "2024-03-01",
        }
    ]
    shown = json.loads(_ok(sensors_app, "show", "ac-001", "--json").stdout)
    assert shown["sensor_type"]["channels"]["sound_level"]["unit"] == "dB(A)"
    assert "th-001" in _ok(sensors_app, "list").stdout  # the human table

    _ok(sensors_app, "remove", "th-001")
    with _store(db_url) as store:
        assert [s.sensor_id for s in store.list_sensors()] == ["ac-001"]
        assert store.audit_log(1)[0].actor.startswith("cli")


def test_sensor_errors_are_one_clean_line(db_url: str) -> None:
    _ok(sensors_app, "add", "th-001", "--type", "climate", "--site", "a")
    assert "sensor 'th-001' already exists" in _fails(
        sensors_app, "add", "th-001", "--type", "climate", "--site", "a"
    )
    unknown_type = _fails(sensors_app, "add", "th-002", "--type", "gas", "--site", "a")
    assert "'gas'" in unknown_type
    assert "acoustic, climate, environment" in unknown_type
    assert "--tag" in _fails(
        sensors_app, "add", "th-003", "--type", "climate", "--site", "a", "--tag", "floor"
    )
    assert "installed_on" in _fails(
        sensors_app,
        "add",
        "th-004",
        "--type",
        "climate",
        "--site",
        "a",
        "--installed-on",
        "2024-13-01",
    )
    assert "no sensor named 'th-404'" in _fails(sensors_app, "show", "th-404")


def test_import_csv_keeps_good_rows_and_reports_bad_ones(db_url: str, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(
        "sensor_id,type,site,tags,installed_on\n"
        "th-010,climate,a,floor=1;zone=n,2024-01-02\n"
        "th-011,gas,a,,\n"
        "bad id,climate,a,,\n"
        "th-012,acoustic,b,,\n"
        "th-010,climate,a,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(sensors_app, ["import", str(fleet)])
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in errors] == ["row 2", "row 3", "row 5"]
    assert all(line.startswith(f"{fleet}: ") for line in errors)
    assert "'gas'" in errors[0]
    assert "sensor_id" in errors[1]
    assert "already exists" in errors[2]
    assert "2 added" in result.stdout
    assert "3 rejected" in result.stdout
    with _store(db_url) as store:
        assert store.get_sensor("th-010").tags == {"floor": "1", "zone": "n"}
        assert [s.sensor_id for s in store.list_sensors()] == ["th-010", "th-012"]


def test_import_json_with_upsert(db_url: str, tmp_path: Path) -> None:
    rows = [
        {
            "sensor_id": f"env-{i}",
            "sensor_type": "environment",
            "site": "lab",
            "tags": {"i": str(i)},
        }
        for i in range(3)
    ]
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(rows), encoding="utf-8")
    assert "3 added" in _ok(sensors_app, "import", str(fleet)).stdout
    rows[0]["site"] = "lab-2"
    fleet.write_text(json.dumps(rows), encoding="utf-8")
    again = _ok(sensors_app, "import", str(fleet), "--upsert").stdout
    assert "0 added, 1 updated, 2 unchanged, 0 rejected" in again
    with _store(db_url) as store:
        assert store.sensors_at_site("lab-2") == ["env-0"]
    assert "expected a JSON list" in _fails(
        sensors_app, "import", str(_write(tmp_path / "one.json", '{"sensor_id": "x"}'))
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sensor_type_add_from_yaml_and_show(db_url: str, tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "co2.yaml",
        "name: co2\ndescription: air quality\nchannels:\n"
        "  co2: {unit: ppm, min: 0, max: 10000}\n  temperature: {unit: C, min: -40, max: 85}\n",
    )
    _ok(types_app, "add", "--file", str(spec))
    shown = json.loads(_ok(types_app, "show", "co2", "--json").stdout)
    assert shown["channels"]["temperature"]["unit"] == "°C"
    assert shown["channels"]["co2"]["max"] == 10000
    names = [t["name"] for t in json.loads(_ok(types_app, "list", "--json").stdout)]
    assert names == ["acoustic", "climate", "co2", "environment"]
    assert "sensor type 'co2' already exists" in _fails(types_app, "add", "--file", str(spec))
    _ok(sensors_app, "add", "co2-1", "--type", "co2", "--site", "lab")


def test_bad_sensor_type_files_name_the_file_and_field(db_url: str, tmp_path: Path) -> None:
    reversed_range = _write(
        tmp_path / "bad.yaml",
        "name: co2\nchannels:\n  co2: {unit: ppm, min: 500, max: 10}\n  rh: {unit: '%', max: 3}\n",
    )
    message = _fails(types_app, "add", "--file", str(reversed_range))
    assert message.startswith(f"error: {reversed_range}: ")
    assert "channels.co2: range must be finite with min < max" in message
    assert "channels.rh.min: Field required" in message

    broken_json = _write(tmp_path / "bad.json", '{"name": "co2", "channels": {')
    message = _fails(types_app, "add", "--file", str(broken_json))
    assert f"{broken_json}: not valid JSON (line 1" in message

    bad_name = _write(tmp_path / "name.json", json.dumps({"name": "CO2!", "channels": {}}))
    message = _fails(types_app, "add", "--file", str(bad_name))
    assert "name: " in message
    assert "channels: " in message

    assert "cannot read" in _fails(types_app, "add", "--file", str(tmp_path / "missing.yaml"))
    with _store(db_url) as store:
        assert "co2" not in {t.name for t in store.list_sensor_types()}


def test_users_keys_and_audit(db_url: str) -> None:
    _ok(users_app, "add", "gw-7", "--role", "device")
    assert "one of admin, data_scientist, operator, device" in _fails(
        users_app, "add", "bob", "--role", "boss"
    )
    users = json.loads(_ok(users_app, "list", "--json").stdout)
    assert [(u["username"], u["role"]) for u in users] == [("gw-7", "device")]

    created = _ok(users_app, "key-create", "gw-7", "--name", "hall 3")
    plaintext = created.stdout.strip()
    assert "shown only this once" in created.stderr
    assert plaintext not in created.stderr
    with _store(db_url) as store:
        principal = store.verify_api_key(plaintext)
    assert principal is not None
    assert (principal.username, principal.role) == ("gw-7", "device")

    keys = json.loads(_ok(users_app, "keys", "gw-7", "--json").stdout)
    assert [(k["key_id"], k["name"], k["active"]) for k in keys] == [
        (principal.key_id, "hall 3", True)
    ]
    listed_text = _ok(users_app, "keys").stdout + json.dumps(keys)
    assert plaintext.split("_", 2)[2] not in listed_text

    _ok(users_app, "key-revoke", principal.key_id)
    with _store(db_url) as store:
        assert store.verify_api_key(plaintext) is None
    assert "no API key named 'nope'" in _fails(users_app, "key-revoke", "nope")

    audit = json.loads(_ok(users_app, "audit", "--limit", "3", "--json").stdout)
    assert [e["action"] for e in audit] == ["api_key.revoke", "api_key.create", "user.add"]
    assert plaintext.split("_", 2)[2] not in json.dumps(audit)
    only_adds = json.loads(_ok(users_app, "audit", "--action", "user.add", "--json").stdout)
    assert [e["subject"] for e in only_adds] == ["gw-7"]
    assert "api_key.revoke" in _ok(users_app, "audit").stdout


def test_unusable_database_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENSORGUARD_METADATA_URL", "mysql://db/meta")
    get_settings.cache_clear()
    try:
        assert "SENSORGUARD_METADATA_URL" in _fails(sensors_app, "list")
    finally:
        get_settings.cache_clear()


def test_key_create_binds_device_keys_and_keys_shows_the_binding(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per key, unwrapped
    with _store(db_url) as store:
        store.seed_builtin_types()
    for sensor_id, site in (("th-1", "hall-3"), ("th-2", "hall-3"), ("th-9", "yard")):
        _ok(sensors_app, "add", sensor_id, "--type", "climate", "--site", site)
    _ok(users_app, "add", "gw-7", "--role", "device")
    _ok(users_app, "add", "alice", "--role", "data_scientist")

    created = _ok(
        users_app, "key-create", "gw-7", "--sensor", "th-1", "-s", "th-9", "--site", "hall-3"
    )
    with _store(db_url) as store:
        principal = store.verify_api_key(created.stdout.strip())
    assert principal is not None
    assert (principal.sensors, principal.site) == (("th-1", "th-9"), "hall-3")
    assert principal.may_ingest("th-2", "hall-3") and not principal.may_ingest("th-3", "yard")
    _ok(users_app, "key-create", "gw-7", "--name", "spare")
    _ok(users_app, "key-create", "alice")

    assert "API key binding: no sensor named 'th-4'" in _fails(
        users_app, "key-create", "gw-7", "--sensor", "th-4"
    )
    assert "no site named 'roof'" in _fails(users_app, "key-create", "gw-7", "--site", "roof")

    listed = json.loads(_ok(users_app, "keys", "--json").stdout)
    assert sorted((k["username"], k["sensors"], k["site"] or "") for k in listed) == [
        ("alice", [], ""),
        ("gw-7", [], ""),
        ("gw-7", ["th-1", "th-9"], "hall-3"),
    ]
    table = _ok(users_app, "keys").stdout
    assert "sensors th-1, th-9 and site hall-3" in table
    assert "nothing (unbound device key)" in table
    assert "any sensor" in table
