"""TLS and credential settings reach the MQTT, Kafka and Cassandra client constructors.

No TLS server runs in these tests: they check the arguments the clients are built with.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import certifi
import paho.mqtt.client as paho
import pytest
from pydantic import SecretStr

from sensorguard.errors import ConfigError
from sensorguard.ingest import mqtt
from sensorguard.settings import Settings
from sensorguard.store import cassandra
from sensorguard.stream import kafka

CA = Path(certifi.where())


def test_mqtt_tls_and_credentials_reach_the_paho_client(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(paho.Client, "tls_set", lambda self, **kw: seen.update(tls=kw))
    monkeypatch.setattr(
        paho.Client, "username_pw_set", lambda self, u, p=None: seen.update(login=(u, p))
    )
    settings = Settings(
        mqtt_username="sensorguard-bridge",
        mqtt_password=SecretStr("bridge-pw"),
        mqtt_tls_ca_file=CA,
        mqtt_tls_cert_file=Path("/etc/sg/client.pem"),
        mqtt_tls_key_file=Path("/etc/sg/client.key"),
    )
    url = mqtt.MqttURL.parse("mqtts://broker.example")
    assert (url.port, url.tls) == (8883, True)
    mqtt._new_client(
        url,
        "c",
        clean_session=True,
        manual_ack=False,
        settings=settings,
        credentials=mqtt.client_credentials(url, settings),
    )
    assert seen["login"] == ("sensorguard-bridge", "bridge-pw")
    assert seen["tls"] == {
        "ca_certs": str(CA),
        "certfile": "/etc/sg/client.pem",
        "keyfile": "/etc/sg/client.key",
    }


def test_mqtt_without_tls_settings_stays_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(paho.Client, "tls_set", lambda self, **kw: calls.append(kw))
    url = mqtt.MqttURL.parse("mqtt://127.0.0.1:1883")
    mqtt._new_client(url, "c", clean_session=True, manual_ack=False, settings=Settings())
    assert calls == []
    with pytest.raises(ConfigError, match="MQTT_TLS_CERT_FILE needs TLS"):
        mqtt.tls_options(url, Settings(mqtt_tls_cert_file=Path("/c.pem")))


def test_the_mqtt_url_password_is_not_in_its_repr() -> None:
    assert "s3cret" not in repr(mqtt.MqttURL.parse("mqtt://u:s3cret@h"))


def test_kafka_ssl_and_sasl_reach_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, dict[str, Any]] = {}

    def recorder(name: str) -> Any:
        def build(**kwargs: Any) -> object:
            built[name] = kwargs
            return object()

        return build

    monkeypatch.setattr(kafka, "KafkaProducer", recorder("producer"))
    monkeypatch.setattr(kafka, "KafkaAdminClient", recorder("admin"))
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=CA,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="sg",
        kafka_sasl_password=SecretStr("kafka-pw"),
    )
    stream = kafka.KafkaStream(["127.0.0.1:9092"], settings=settings)
    stream._producer_client()
    stream._admin_client()
    for kwargs in built.values():
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["ssl_cafile"] == str(CA)
        assert kwargs["ssl_check_hostname"] is True
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("sg", "kafka-pw")
    assert set(built) == {"producer", "admin"}
    # Consumers are built from the same common arguments.
    assert stream._common()["security_protocol"] == "SASL_SSL"


def test_kafka_plaintext_adds_nothing_and_sasl_needs_a_user() -> None:
    assert kafka.kafka_security(Settings()) == {}
    with pytest.raises(ConfigError, match="needs SENSORGUARD_KAFKA_SASL_USERNAME"):
        kafka.kafka_security(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_cassandra_tls_and_auth_reach_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}

    class FakeCluster:
        connection_class = cassandra.Cluster.connection_class  # what driver_status reads

        def __init__(self, **kwargs: Any) -> None:
            built.update(kwargs)

        def connect(self) -> object:
            return object()

    monkeypatch.setattr(cassandra, "Cluster", FakeCluster)
    settings = Settings(
        cassandra_username="sg",
        cassandra_password=SecretStr("cass-pw"),
        cassandra_ssl_ca_file=CA,
        cassandra_ssl_check_hostname=False,
    )
    cassandra.CassandraStore.from_url("cassandra://db.example/ks", settings=settings)
    context = built["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is False
    auth = built["auth_provider"]
    assert (auth.username, auth.password) == ("sg", "cass-pw")


def test_cassandra_without_settings_has_no_tls_or_auth() -> None:
    assert cassandra.cluster_security(Settings()) == {}
    with pytest.raises(ConfigError, match="CASSANDRA_SSL_CERT_FILE needs"):
        cassandra.cluster_security(Settings(cassandra_ssl_cert_file=Path("/c.pem")))
