"""infra/docker-compose.yml, checked without Docker: images pinned, every server present, every
command a real command, ports and settings in agreement with src/sensorguard/settings.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from sensorguard.cli import build_app
from sensorguard.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yml"
ENV_FILE = INFRA / "compose" / "sensorguard.env"
# What the platform needs (ARCHITECTURE.md) and the processes that run it.
SERVERS = {"kafka", "cassandra", "mosquitto", "mlflow", "airflow", "prometheus", "alertmanager"}
SERVERS |= {"grafana"}
PROCESSES = {"ingest", "mqtt-bridge", "writer", "scorer", "scoring-service", "alert-engine"}
PROCESSES |= {"operators"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def _env() -> dict[str, str]:
    pairs = {}
    for line in ENV_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_every_server_and_process_is_there(compose: dict[str, Any]) -> None:
    missing = (SERVERS | PROCESSES) - set(compose["services"])
    assert not missing, f"services missing from {COMPOSE.name}: {sorted(missing)}"


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), (
            f"{name}: image {image!r} is not pinned to a version"
        )
    dockerfile = (INFRA / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    (uv_version,) = re.findall(r"^UV_VERSION := (\S+)", makefile, flags=re.M)
    assert f"uv=={uv_version}" in dockerfile, "the image installs another uv than the Makefile"
    assert re.search(r"^FROM python:3\.11\.\d+-", dockerfile, flags=re.M)


def test_every_process_runs_a_real_command(compose: dict[str, Any]) -> None:
    runner, cli = CliRunner(), build_app()
    for name in PROCESSES:
        command = compose["services"][name]["command"]
        words = [w for w in command if not w.startswith("-")][:2]
        result = runner.invoke(cli, [*words, "--help"])
        assert result.exit_code == 0, f"{name}: `sensorguard {' '.join(words)}` is not a command"


def test_settings_name_real_fields_and_validate() -> None:
    env = _env()
    fields = set(Settings.model_fields)
    for key in env:
        assert key.startswith(ENV_PREFIX), key
        field = key.removeprefix(ENV_PREFIX).lower().removesuffix("_file")
        assert field in fields, f"{ENV_FILE.name}: {key} is not a setting"
    plain = {
        k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items() if not k.endswith("_FILE")
    }
    settings = Settings(**plain, api_key_pepper="x" * 32)
    assert settings.env == "production"


def test_urls_point_at_services_on_the_ports_they_serve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = _env()
    listens = {
        "kafka": 9092,
        "cassandra": 9042,
        "mosquitto": 1883,
        "mlflow": 5000,
        "alertmanager": 9093,
    }
    for key, url in env.items():
        parts = urlsplit(url)
        host = parts.hostname
        if host in (None, "", "localhost") or key.endswith("_FILE"):
            continue
        assert host in services, f"{key}={url}: no service {host!r}"
        assert parts.port == listens[host], f"{key}={url}: {host} listens on {listens[host]}"
    defaults = Settings()
    published = {
        name: {int(p.split(":")[-1]) for p in service.get("ports", [])}
        for name, service in services.items()
    }
    assert defaults.ingest_port in published["ingest"]
    assert defaults.serve_port in published["scoring-service"]
    assert defaults.scorer_metrics_port in published["scorer"]
    assert urlsplit(env["SENSORGUARD_OPERATORS_URL"]).port in published["operators"]
    assert "--port" in services["operators"]["command"]


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts {source}, which is missing"
    for env_file in compose["x-sensorguard"]["env_file"]:
        assert (INFRA / env_file).exists()
