"""Rotating the API-key pepper: old keys keep working and move to the new pepper as they are used."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from sensorguard.auth import Authorizer
from sensorguard.cli.users import app as users_app
from sensorguard.errors import Unauthorized
from sensorguard.metadata import MetadataStore
from sensorguard.metadata.apikeys import Peppers, hash_secret, parse_key
from sensorguard.settings import Settings, get_settings

OLD, NEW, NEWER = "old-pepper-1a2b3c", "new-pepper-4d5e6f", "newer-pepper-7a8b9c"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "meta" / "metadata.db"


@pytest.fixture
def issued(db_path: Path) -> Iterator[tuple[str, str]]:
    """(key_id, plaintext) of a key issued before any rotation, under pepper version 1."""
    with MetadataStore(db_path, pepper=Peppers.single(OLD)) as store:
        store.add_user("gw", "device", actor="test")
        key_id, plaintext = store.create_api_key("gw", actor="test")
    yield key_id, plaintext


def stored(db_path: Path, key_id: str) -> tuple[int, str]:
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT pepper_version, secret_hash FROM api_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
    finally:
        conn.close()
    return int(row[0]), str(row[1])


def test_a_new_key_records_the_current_pepper_version(db_path: Path) -> None:
    with MetadataStore(db_path, pepper=Peppers(3, {3: NEW})) as store:
        store.add_user("gw", "device", actor="test")
        key_id, plaintext = store.create_api_key("gw", actor="test")
    parsed = parse_key(plaintext)
    assert parsed is not None
    assert stored(db_path, key_id) == (3, hash_secret(NEW, parsed[1]))


def test_an_old_key_still_works_and_is_rehashed_with_the_current_pepper(
    db_path: Path, issued: tuple[str, str]
) -> None:
    key_id, plaintext = issued
    secret = parse_key(plaintext)[1]  # type: ignore[index]
    assert stored(db_path, key_id) == (1, hash_secret(OLD, secret))
    rotated = Peppers(2, {1: OLD, 2: NEW})
    with MetadataStore(db_path, pepper=rotated) as store:
        assert store.verify_api_key(plaintext) is not None
        assert stored(db_path, key_id) == (2, hash_secret(NEW, secret))
        (entry,) = store.audit_log(1, action="api_key.rehash")
        assert entry.detail == {"key_id": key_id, "from_version": 1, "to_version": 2}
        assert store.verify_api_key(plaintext) is not None  # and again, now on v2
        assert len(store.audit_log(10, action="api_key.rehash")) == 1
    # The rotation is complete for this key: the old pepper is no longer needed.
    with MetadataStore(db_path, pepper=Peppers.single(NEW, version=2)) as store:
        assert store.verify_api_key(plaintext) is not None


def test_a_wrong_secret_under_an_old_pepper_is_not_rehashed(
    db_path: Path, issued: tuple[str, str]
) -> None:
    key_id, plaintext = issued
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    with MetadataStore(db_path, pepper=Peppers(2, {1: OLD, 2: NEW})) as store:
        assert store.check_api_key(forged).refusal == "wrong_secret"
    assert stored(db_path, key_id)[0] == 1


def test_a_key_whose_pepper_was_retired_is_refused_and_the_reason_audited(
    db_path: Path, issued: tuple[str, str], tmp_path: Path
) -> None:
    key_id, plaintext = issued
    with MetadataStore(db_path, pepper=Peppers.single(NEW, version=2)) as store:
        check = store.check_api_key(plaintext)
        assert (check.refusal, check.pepper_version, check.principal) == ("pepper_unknown", 1, None)
        settings = Settings(data_dir=tmp_path / "sg", require_api_key=True)
        with pytest.raises(Unauthorized) as caught:
            Authorizer(store, settings).authorize(plaintext, "ingest", where="POST /v1/readings")
        (entry,) = store.audit_log(1, action="auth.refused")
    # The caller learns no more than for an unknown key; the audit log says exactly why.
    assert "not known" in str(caught.value)
    assert entry.detail["reason"] == "pepper_unknown"
    assert entry.detail["pepper_version"] == 1
    assert entry.detail["key_id"] == key_id
    assert "pepper version 1" in str(entry.detail["why"])
    assert stored(db_path, key_id)[0] == 1  # untouched


def test_peppers_never_show_in_their_repr() -> None:
    text = repr(Peppers(2, {1: OLD, 2: NEW}))
    assert OLD not in text and NEW not in text and "versions=[1, 2]" in text


def test_settings_give_the_store_every_known_pepper(
    db_path: Path, issued: tuple[str, str], tmp_path: Path
) -> None:
    from sensorguard.wiring import open_configured_metadata

    _, plaintext = issued
    settings = Settings(
        data_dir=tmp_path / "sg",
        metadata_url=f"sqlite:///{db_path}",
        api_key_pepper=SecretStr(NEWER),
        api_key_pepper_version=3,
        api_key_previous_peppers={1: SecretStr(OLD), 2: SecretStr(NEW)},
    )
    with open_configured_metadata(settings) as store:
        assert store.verify_api_key(plaintext) is not None
        assert [(u.version, u.state, u.active_keys) for u in store.pepper_usage()] == [
            (1, "previous", 0),
            (2, "previous", 0),
            (3, "current", 1),
        ]


def test_pepper_status_reports_keys_still_on_old_or_unknown_peppers(
    db_path: Path, issued: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with MetadataStore(db_path, pepper=Peppers.single(OLD)) as store:
        store.create_api_key("gw", name="second", actor="test")
        revoked, _ = store.create_api_key("gw", name="third", actor="test")
        store.revoke_api_key(revoked, actor="test")
    monkeypatch.setenv("SENSORGUARD_METADATA_URL", f"sqlite:///{db_path}")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER", NEWER)
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER_VERSION", "3")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PREVIOUS_PEPPERS", json.dumps({"2": NEW}))
    get_settings.cache_clear()
    result = CliRunner().invoke(users_app, ["pepper-status", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"version": 1, "state": "unknown", "active_keys": 2, "revoked_keys": 1},
        {"version": 2, "state": "previous", "active_keys": 0, "revoked_keys": 0},
        {"version": 3, "state": "current", "active_keys": 0, "revoked_keys": 0},
    ]
    table = CliRunner().invoke(users_app, ["pepper-status"])
    assert table.exit_code == 0 and "2 active keys not on" in table.output
