"""Runtime configuration: one Settings object from SENSORGUARD_* variables and .env."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_serializer, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sensorguard.errors import ConfigError

_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "password"}
ENV_PREFIX = "SENSORGUARD_"
# Every setting that holds a secret: typed SecretStr (never shown by repr, str or JSON dumps)
# and also readable from a file named by <VARIABLE>_FILE (Docker and Kubernetes secrets).
SECRET_FIELDS = (
    "api_key_pepper",
    "api_key_previous_peppers",
    "mqtt_password",
    "mqtt_publisher_password",
    "kafka_sasl_password",
    "cassandra_password",
)
# The password runs to the last '@' before any query or fragment: a mistyped URL (a '/' or '@'
# left unescaped in the password) is exactly the one whose error message quotes it.
_USERINFO = re.compile(r"//([^/@:?#]+):([^?#]*)@")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def redact_url(url: str) -> str:
    """A URL fit for logs and error messages: any password is replaced."""
    return _USERINFO.sub(r"//\1:***@", url)


class SecretFilesSource(PydanticBaseSettingsSource):
    """Secrets from files: SENSORGUARD_API_KEY_PEPPER_FILE=/run/secrets/pepper, and so on.

    The file's content, less its trailing newline, is the value (for api_key_previous_peppers a
    JSON object). Setting both a variable and its _FILE is refused: which one wins would be a
    guess. Only the process environment is read for _FILE, not .env.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            var = f"{ENV_PREFIX}{name.upper()}"
            path = os.environ.get(f"{var}_FILE")
            if not path:
                continue
            if os.environ.get(var) is not None:
                raise ConfigError(f"set {var} or {var}_FILE, not both")
            try:
                text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as err:
                raise ConfigError(f"{var}_FILE={path!r} cannot be read: {err.strerror}") from None
            if name == "api_key_previous_peppers":
                try:
                    found[name] = json.loads(text or "{}")
                except ValueError:
                    raise ConfigError(
                        f"{var}_FILE={path!r} must hold a JSON object of version: pepper"
                    ) from None
            else:
                found[name] = text
        return found


class Settings(BaseSettings):
    """Every knob SensorGuard reads. Backend URLs left empty point at embedded files under data_dir."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses placeholder secrets."
    )
    data_dir: Path = Field(
        Path(".sensorguard"), description="Folder for the embedded backends' files."
    )
    store_url: str = Field(
        "",
        description="Time-series store: sqlite:///PATH (embedded) or cassandra://HOST[:PORT][,HOST...]/KEYSPACE.",
    )
    stream_url: str = Field(
        "",
        description="Stream: sqlite:///PATH (embedded durable log) or kafka://HOST:PORT[,HOST:PORT].",
    )
    metadata_url: str = Field("", description="Metadata database: sqlite:///PATH.")
    mlflow_tracking_uri: str = Field(
        "", description="MLflow tracking/registry URI (default: sqlite under data_dir)."
    )
    mlflow_artifact_root: str = Field(
        "",
        description="Where new MLflow experiments store artifacts (default: data_dir/mlartifacts).",
    )
    model_specs_dir: Path | None = Field(
        None, description="Folder of model spec YAML files (default: the checkout's models/)."
    )
    feature_repo_dir: Path | None = Field(
        None, description="Feast feature declarations folder (default: the checkout's features/)."
    )
    feast_online_store_url: str = Field(
        "",
        description="Feast online store: empty = SQLite under data_dir/feast, or "
        "cassandra://HOST[:PORT][,HOST...]/KEYSPACE.",
    )
    labels_path: Path | None = Field(
        None,
        description="CSV of labelled fault windows (sensor_id, channel, kind, start, end) that "
        "training evaluates candidates on when no --labels file is given.",
    )
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="MQTT broker for `ingest mqtt`: mqtt://HOST[:PORT], or mqtts:// for TLS.",
    )
    mqtt_username: str = Field(
        "", description="MQTT user of the bridge (else the URL's user, else anonymous)."
    )
    mqtt_password: SecretStr = Field(
        SecretStr(""),
        description="MQTT password of the bridge (or SENSORGUARD_MQTT_PASSWORD_FILE).",
    )
    mqtt_publisher_username: str = Field(
        "",
        description="MQTT user `simulate` and the demo publish as when the URL names none: a "
        "gateway the broker's ACL lets write every sensor's topic (never the bridge's user).",
    )
    mqtt_publisher_password: SecretStr = Field(
        SecretStr(""), description="Its password (or SENSORGUARD_MQTT_PUBLISHER_PASSWORD_FILE)."
    )
    mqtt_tls_ca_file: Path | None = Field(
        None, description="CA bundle the MQTT broker's certificate is checked against (TLS on)."
    )
    mqtt_tls_cert_file: Path | None = Field(
        None, description="Client certificate for MQTT over TLS (mutual TLS)."
    )
    mqtt_tls_key_file: Path | None = Field(None, description="Its private key.")
    alertmanager_url: str = Field(
        "",
        description="Prometheus Alertmanager that alerts and silences go to, e.g. "
        "http://127.0.0.1:9094. Empty: the webhook below, or only the log.",
    )
    operators_url: str = Field(
        "http://127.0.0.1:8002",
        description="Where people reach `sensorguard alerts serve` (the operators' page): "
        "notifications link to <operators_url>/live?sensor=ID.",
    )
    alert_webhook_url: str = Field(
        "",
        description="Used when alertmanager_url is empty: alerts are POSTed here as Alertmanager "
        "webhook JSON (version 4); silences are kept in data_dir/silences.json.",
    )

    max_clock_skew_s: float = Field(
        300.0, gt=0, description="Readings stamped further than this in the future are rejected."
    )
    max_reading_age_days: float = Field(
        3650.0, gt=0, description="Readings older than this are rejected as implausible."
    )
    retention_days: int = Field(
        365,
        gt=0,
        le=7300,  # Cassandra's longest TTL is 20 years: beyond, every CREATE TABLE is refused
        description="How long readings and scores are kept, counted from their timestamp: "
        "Cassandra rows get the remaining time as TTL, the SQLite store deletes what aged out.",
    )
    store_purge_interval_s: float = Field(
        600.0,
        gt=0,
        description="How often (at most) a write to the SQLite store also deletes what is "
        "older than retention_days (`sensorguard store purge` does it at once).",
    )
    stream_partitions: int = Field(6, ge=1, description="Partitions per topic when created.")
    cassandra_replication_factor: int = Field(1, ge=1, description="Keyspace replication factor.")
    cassandra_max_in_flight: int = Field(100, ge=1, description="Concurrent Cassandra requests.")
    cassandra_datacenter: str = Field(
        "",
        description="Empty: SimpleStrategy (one data centre). A name: NetworkTopologyStrategy with "
        "the replication factor in that data centre, which is also the driver's local DC.",
    )
    cassandra_consistency: Literal["ONE", "LOCAL_ONE", "LOCAL_QUORUM", "QUORUM", "ALL"] = Field(
        "LOCAL_QUORUM", description="Consistency level of Cassandra reads and writes."
    )
    cassandra_username: str = Field("", description="Cassandra user (empty: no auth).")
    cassandra_password: SecretStr = Field(
        SecretStr(""), description="Cassandra password (or SENSORGUARD_CASSANDRA_PASSWORD_FILE)."
    )
    cassandra_ssl_ca_file: Path | None = Field(
        None, description="CA bundle for Cassandra client-to-node TLS (set: TLS on)."
    )
    cassandra_ssl_cert_file: Path | None = Field(
        None, description="Client certificate for Cassandra TLS (mutual TLS)."
    )
    cassandra_ssl_key_file: Path | None = Field(None, description="Its private key.")
    cassandra_ssl_check_hostname: bool = Field(
        True, description="Check that a Cassandra node's certificate names its host."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How Kafka clients talk to the brokers."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle for Kafka TLS (SSL, SASL_SSL)."
    )
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate for Kafka TLS.")
    kafka_ssl_keyfile: Path | None = Field(None, description="Its private key.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism (SASL_PLAINTEXT, SASL_SSL)."
    )
    kafka_sasl_username: str = Field("", description="SASL user for Kafka.")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="SASL password (or SENSORGUARD_KAFKA_SASL_PASSWORD_FILE)."
    )
    kafka_linger_ms: int = Field(
        10, ge=0, description="How long the Kafka producer waits to fill a batch before sending."
    )
    kafka_compression: Literal["gzip", "lz4", "snappy", "zstd", "none"] = Field(
        "gzip",
        description="Kafka producer compression (lz4, snappy, zstd need their Python package).",
    )
    kafka_publish_timeout_s: float = Field(
        30.0, gt=0, description="How long a publish waits for Kafka's acknowledgement."
    )
    mqtt_client_id: str = Field(
        "sensorguard-bridge",
        description="Stable MQTT client id of `ingest mqtt`: the broker keeps its session "
        "(subscriptions, unacknowledged messages) across restarts under this id.",
    )
    mqtt_buffer: int = Field(
        1000,
        ge=1,
        description="MQTT messages held between receiving and publishing; when full, the bridge "
        "stops reading and the broker holds the rest.",
    )

    ingest_host: str = Field("127.0.0.1", description="Bind address of `ingest serve`.")
    ingest_port: int = Field(8000, description="Port of `ingest serve`.")
    ingest_max_batch: int = Field(5000, ge=1, description="Largest batch one POST may carry.")
    rate_limit_per_sensor: float = Field(
        50.0, gt=0, description="Readings per second one sensor may send (token bucket)."
    )
    rate_limit_per_client: float = Field(
        5000.0, gt=0, description="Readings per second one client may send (token bucket)."
    )
    rate_limit_burst_s: float = Field(
        10.0, gt=0, description="Bucket size, in seconds of the rate, before 429 is answered."
    )
    serve_host: str = Field("127.0.0.1", description="Bind address of the BentoML service.")
    serve_port: int = Field(3000, description="Port of the BentoML service (`make serve`).")
    serve_max_rows: int = Field(
        1000, ge=1, description="Most readings one POST /score may carry (413 beyond)."
    )
    serve_max_bytes: int = Field(
        1_000_000, ge=1024, description="Largest POST /score body in bytes (413 beyond)."
    )
    scorer_metrics_port: int = Field(
        8001, ge=0, description="Port of the stream scorer's /metrics and /healthz (0: none)."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Bind address of the background processes' /metrics and /healthz (scorer, "
        "alert engine, store writer, MQTT bridge); 0.0.0.0 where Prometheus runs elsewhere.",
    )
    engine_metrics_port: int = Field(
        8003, ge=0, description="Port of the alert engine's /metrics and /healthz (0: none)."
    )
    writer_metrics_port: int = Field(
        8004, ge=0, description="Port of the store writer's /metrics and /healthz (0: none)."
    )
    mqtt_metrics_port: int = Field(
        8005, ge=0, description="Port of the MQTT bridge's /metrics and /healthz (0: none)."
    )
    system_metrics_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often each long-running process publishes its summary "
        "record to the `system-metrics` topic.",
    )
    serve_max_concurrency: int = Field(
        8, ge=1, description="Requests the BentoML service works on at once; more get 503."
    )
    champion_poll_s: float = Field(
        30.0, gt=0, description="How often the service and the stream scorer check the aliases."
    )
    scoring_warmup_rows: int = Field(
        120,
        ge=0,
        description="Readings a sensor's episode state is replayed over when it is rebuilt "
        "from the store (a new stream member, every /score call), behind full feature windows.",
    )
    scoring_lookback_hours: float = Field(
        48.0, gt=0, description="How far back the store is read for a sensor's recent readings."
    )
    api_key_pepper: SecretStr = Field(
        SecretStr("dev"),
        description="Server-side secret mixed into API-key hashes (or "
        "SENSORGUARD_API_KEY_PEPPER_FILE); a placeholder is refused outside development.",
    )
    api_key_pepper_version: int = Field(
        1, ge=1, description="Version of api_key_pepper; new keys are hashed with it."
    )
    api_key_previous_peppers: dict[int, SecretStr] = Field(
        default_factory=dict,
        description='Other peppers keys may still be hashed with, as JSON {"1": "old"}: a key '
        "verified with one is re-hashed with the current pepper. A key whose version is in "
        "neither is refused.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins the HTTP apps answer CORS for, as JSON ["https://a.example"] '
        "(empty: no CORS headers at all). Every request but a preflight still needs a key.",
    )
    require_api_key: bool = Field(
        True,
        description="Every HTTP route of every service demands an API key. Turning it off is "
        "refused unless SENSORGUARD_ENV=development.",
    )
    api_key_cache_s: float = Field(
        30.0,
        ge=0,
        description="How long a verified API key is trusted without asking the metadata "
        "database again; a revoked key keeps working for up to this long (0: check every call).",
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        base = self.data_dir
        if not self.store_url:
            self.store_url = f"sqlite:///{base / 'store.db'}"
        if not self.stream_url:
            self.stream_url = f"sqlite:///{base / 'stream.db'}"
        if not self.metadata_url:
            self.metadata_url = f"sqlite:///{base / 'metadata.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{(base / 'mlflow.db').absolute()}"
        self._refuse_placeholder_secrets()
        if self.api_key_pepper_version in self.api_key_previous_peppers:
            raise ConfigError(
                f"SENSORGUARD_API_KEY_PREVIOUS_PEPPERS must not hold the current version "
                f"{self.api_key_pepper_version} (SENSORGUARD_API_KEY_PEPPER_VERSION)"
            )
        bad = [o for o in self.cors_origins if not _ORIGIN.match(o)]
        if bad:
            raise ConfigError(
                "SENSORGUARD_CORS_ORIGINS must list origins like https://host[:port] (no path, "
                f"no wildcard), got {bad!r}"
            )
        if not self.require_api_key and self.env != "development":
            raise ConfigError(
                "SENSORGUARD_REQUIRE_API_KEY=false is allowed only with "
                f"SENSORGUARD_ENV=development, got SENSORGUARD_ENV={self.env}"
            )
        return self

    def _secrets(self) -> Iterator[tuple[str, str]]:
        """(variable, value) of every secret that is set."""
        yield f"{ENV_PREFIX}API_KEY_PEPPER", self.api_key_pepper.get_secret_value()
        for version, pepper in self.api_key_previous_peppers.items():
            yield f"{ENV_PREFIX}API_KEY_PREVIOUS_PEPPERS[{version}]", pepper.get_secret_value()
        for name in (
            "mqtt_password",
            "mqtt_publisher_password",
            "kafka_sasl_password",
            "cassandra_password",
        ):
            value = getattr(self, name).get_secret_value()
            if value:  # empty: that client uses no password at all
                yield f"{ENV_PREFIX}{name.upper()}", value

    def _refuse_placeholder_secrets(self) -> None:
        if self.env == "development":
            return
        for var, value in self._secrets():
            if value.strip().lower() in _PLACEHOLDER_SECRETS:
                # The value is not repeated: a placeholder is public anyway, a near-miss is not.
                raise ConfigError(
                    f"{var} is a placeholder; set a real secret (or {var.split('[')[0]}_FILE) "
                    f"when SENSORGUARD_ENV={self.env}; placeholders are allowed only with "
                    "SENSORGUARD_ENV=development"
                )

    def api_key_peppers(self) -> dict[int, str]:
        """Every pepper a key may be hashed with, by version (the current one included)."""
        peppers = {v: p.get_secret_value() for v, p in self.api_key_previous_peppers.items()}
        peppers[self.api_key_pepper_version] = self.api_key_pepper.get_secret_value()
        return peppers

    @field_serializer("store_url", "stream_url", "metadata_url", "mqtt_url", "mlflow_tracking_uri")
    def _dump_url(self, url: str) -> str:
        # Dumps are for showing; nothing rebuilds Settings from one, so nothing loses the password.
        return redact_url(url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # URLs may carry user:password; SecretStr fields already hide themselves.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import).

    A bad value raises ConfigError naming the variable, the value and what was expected, so
    every command reports it the same way instead of with a pydantic traceback.
    """
    try:
        return Settings()
    except ValidationError as err:
        problems = []
        for item in err.errors(include_url=False):
            name = "SENSORGUARD_" + "_".join(str(p) for p in item["loc"]).upper()
            expected = str(item["msg"]).removeprefix("Input should be ")
            problems.append(f"{name} must be {expected}, got {item.get('input')!r}")
        raise ConfigError("; ".join(problems)) from None


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:/// URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"expected a sqlite:///PATH URL, got {url!r}")
    return Path(url[len(prefix) :])
