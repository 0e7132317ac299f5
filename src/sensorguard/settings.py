"""Runtime configuration: one Settings object from SENSORGUARD_* variables and .env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    mqtt_url: str = Field("mqtt://127.0.0.1:1883", description="MQTT broker for `ingest mqtt`.")

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
    api_key_pepper: SecretStr = Field(
        SecretStr("dev"), description="Server-side secret mixed into API-key hashes."
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
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (never at import)."""
    return Settings()


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:/// URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"expected a sqlite:///PATH URL, got {url!r}")
    return Path(url[len(prefix) :])
