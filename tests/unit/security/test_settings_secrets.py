"""Secret settings: read from the environment or a *_FILE, never shown, placeholders refused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from sensorguard.errors import ConfigError
from sensorguard.settings import SECRET_FIELDS, Settings, get_settings

PEPPER = "pepper-9f2c1e7a4b"
OLD_PEPPER = "old-pepper-3d5e8a"
PASSWORDS = {
    "SENSORGUARD_MQTT_PASSWORD": "mqtt-pw-71c2",
    "SENSORGUARD_KAFKA_SASL_PASSWORD": "kafka-pw-82d3",
    "SENSORGUARD_CASSANDRA_PASSWORD": "cass-pw-93e4",
}
SECRETS = [PEPPER, OLD_PEPPER, *PASSWORDS.values(), "url-pw-04f5"]


@pytest.fixture(autouse=True)
def _no_test_pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about where a pepper comes from: not the one tests/conftest.py sets."""
    monkeypatch.delenv("SENSORGUARD_API_KEY_PEPPER", raising=False)


def test_every_secret_field_is_a_secretstr() -> None:
    for name in SECRET_FIELDS:
        annotation = str(Settings.model_fields[name].annotation)
        assert "SecretStr" in annotation, name
    # And the reverse: no SecretStr field is missing from SECRET_FIELDS (so from *_FILE).
    secret_like = {n for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
    assert secret_like == set(SECRET_FIELDS)


def test_secrets_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pepper").write_text(PEPPER + "\n")  # as `echo` or a k8s secret leaves it
    (tmp_path / "previous").write_text(json.dumps({"1": OLD_PEPPER}))
    (tmp_path / "mqtt").write_text("mqtt-pw-71c2")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER_FILE", str(tmp_path / "pepper"))
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER_VERSION", "2")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PREVIOUS_PEPPERS_FILE", str(tmp_path / "previous"))
    monkeypatch.setenv("SENSORGUARD_MQTT_PASSWORD_FILE", str(tmp_path / "mqtt"))
    monkeypatch.setenv("SENSORGUARD_ENV", "production")
    settings = get_settings()
    assert settings.api_key_pepper.get_secret_value() == PEPPER
    assert settings.api_key_peppers() == {1: OLD_PEPPER, 2: PEPPER}
    assert settings.mqtt_password.get_secret_value() == "mqtt-pw-71c2"


def test_a_variable_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pepper").write_text(PEPPER)
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER", PEPPER)
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER_FILE", str(tmp_path / "pepper"))
    with pytest.raises(ConfigError, match=r"SENSORGUARD_API_KEY_PEPPER or .*_FILE, not both"):
        get_settings()


def test_an_unreadable_secret_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope"
    monkeypatch.setenv("SENSORGUARD_CASSANDRA_PASSWORD_FILE", str(missing))
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert "SENSORGUARD_CASSANDRA_PASSWORD_FILE" in str(caught.value)
    assert str(missing) in str(caught.value)


@pytest.mark.parametrize("env", ["test", "production"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key_pepper", "dev"),
        ("api_key_pepper", ""),
        ("api_key_pepper", "change-me"),
        ("mqtt_password", "changeme"),
        ("cassandra_password", "secret"),
        ("kafka_sasl_password", "password"),
    ],
)
def test_placeholders_are_refused_outside_development(env: str, field: str, value: str) -> None:
    kwargs: dict[str, object] = {"env": env, "api_key_pepper": SecretStr(PEPPER)}
    kwargs[field] = SecretStr(value)
    with pytest.raises(ConfigError) as caught:
        Settings(**kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"SENSORGUARD_{field.upper()} is a placeholder" in message
    assert f"SENSORGUARD_ENV={env}" in message


def test_a_placeholder_previous_pepper_is_refused_too() -> None:
    with pytest.raises(ConfigError, match=r"API_KEY_PREVIOUS_PEPPERS\[1\] is a placeholder"):
        Settings(
            env="production",
            api_key_pepper=SecretStr(PEPPER),
            api_key_pepper_version=2,
            api_key_previous_peppers={1: SecretStr("dev")},
        )


def test_development_accepts_placeholders_and_empty_passwords_are_no_password() -> None:
    assert Settings(env="development").api_key_pepper.get_secret_value() == "dev"
    settings = Settings(env="production", api_key_pepper=SecretStr(PEPPER))
    assert settings.mqtt_password.get_secret_value() == ""  # unused: no placeholder check


def test_the_current_pepper_version_cannot_also_be_a_previous_one() -> None:
    with pytest.raises(ConfigError, match="must not hold the current version 2"):
        Settings(api_key_pepper_version=2, api_key_previous_peppers={2: SecretStr(OLD_PEPPER)})


def test_no_secret_shows_in_repr_dumps_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENSORGUARD_ENV", "production")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER", PEPPER)
    monkeypatch.setenv("SENSORGUARD_API_KEY_PEPPER_VERSION", "2")
    monkeypatch.setenv("SENSORGUARD_API_KEY_PREVIOUS_PEPPERS", json.dumps({"1": OLD_PEPPER}))
    monkeypatch.setenv("SENSORGUARD_MQTT_URL", "mqtt://bridge:url-pw-04f5@127.0.0.1:1883")
    for var, value in PASSWORDS.items():
        monkeypatch.setenv(var, value)
    settings = get_settings()
    assert settings.api_key_peppers()[1] == OLD_PEPPER  # really loaded
    log = logging.getLogger("sensorguard.test.settings")
    with caplog.at_level(logging.DEBUG):
        log.info("settings %s", settings)
        log.info("settings %r", settings)
        log.info("dump %s", settings.model_dump())
    shown = [
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
        caplog.text,
    ]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    assert "mqtt://bridge:***@127.0.0.1:1883" in repr(settings)


@pytest.mark.parametrize("origin", ["*", "https://a.example/", "ftp://a.example", "a.example"])
def test_cors_origins_must_be_plain_origins(origin: str) -> None:
    with pytest.raises(ConfigError, match="SENSORGUARD_CORS_ORIGINS"):
        Settings(cors_origins=[origin])


def test_cors_origins_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SENSORGUARD_CORS_ORIGINS", '["https://ops.example", "http://127.0.0.1:5173"]'
    )
    assert get_settings().cors_origins == ["https://ops.example", "http://127.0.0.1:5173"]
    assert Settings().cors_origins == ["https://ops.example", "http://127.0.0.1:5173"]
    monkeypatch.delenv("SENSORGUARD_CORS_ORIGINS")
    assert Settings().cors_origins == []
