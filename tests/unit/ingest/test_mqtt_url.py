"""MQTT URLs: parsed into parts; a bad one is named in the error without its password."""

from __future__ import annotations

import pytest

from sensorguard.errors import ConfigError
from sensorguard.ingest.mqtt import MqttURL


@pytest.mark.parametrize(
    "bad",
    [
        "mqtt://bridge:s3cr3t-pw@broker:0",
        "mqtt://bridge:s3cr3t-pw@broker:99999",
        "mqtt://bridge:s3cr3t-pw@broker/topic",
        "http://bridge:s3cr3t-pw@broker",  # not an MQTT scheme
        "mqtt://bridge:s3cr3t/pw@broker",  # an unescaped '/' in the password
        "mqtt://bridge:s3cr3t@pw@",  # an unescaped '@' and no host
    ],
)
def test_a_bad_url_is_explained_without_its_password(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MqttURL.parse(bad)
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert "SENSORGUARD_MQTT_URL must be mqtt://" in message and "bridge" in message
