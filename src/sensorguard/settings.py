"""Runtime configuration: one Settings object from SENSORGUARD_* variables and .env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sensorguard.errors import ConfigError

_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev"}


class Settings(BaseSettings):
    """Every knob SensorGuard reads. Backend URLs left empty point at embedded files under data_dir."""

    model_config = SettingsConfigDict(
        env_prefix="SENSORGUARD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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
    mqtt_url: str = Field("mqtt://127.0.0.1:1883", description="MQTT broker for `ingest mqtt`.")
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
        365, gt=0, description="Default TTL of stored readings and scores (Cassandra)."
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
        SecretStr("dev"), description="Server-side secret mixed into API-key hashes."
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
        if (
            self.env == "production"
            and self.api_key_pepper.get_secret_value() in _PLACEHOLDER_SECRETS
        ):
            raise ConfigError(
                "SENSORGUARD_API_KEY_PEPPER must be set to a real secret when SENSORGUARD_ENV=production"
            )
        if not self.require_api_key and self.env != "development":
            raise ConfigError(
                "SENSORGUARD_REQUIRE_API_KEY=false is allowed only with "
                f"SENSORGUARD_ENV=development, got SENSORGUARD_ENV={self.env}"
            )
        return self


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
