"""infra/docker-compose.yml, checked without Docker: it parses, images are pinned, every server
and process is there, SENSORGUARD_* names real settings whose URLs and ports agree with the
services, Prometheus scrapes what runs (and `promtool check config` accepts it), Mosquitto
refuses anonymous clients, and every file mounted from the repository exists."""

from __future__ import annotations

import inspect
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from sensorguard.cli import alerts as alerts_cli
from sensorguard.cli import build_app
from sensorguard.errors import ConfigError
from sensorguard.settings import ENV_PREFIX, SECRET_FIELDS, Settings

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yml"
DOCKERFILE = INFRA / "Dockerfile"
PROMETHEUS = INFRA / "compose" / "prometheus.yml"
MOSQUITTO = INFRA / "compose" / "mosquitto.conf"
SECRETS_SCRIPT = INFRA / "compose" / "make-secrets.sh"
OUR_IMAGE = "sensorguard"

# The servers the code talks to (ARCHITECTURE.md), by image; Airflow runs from our image.
SERVER_IMAGES = {
    "apache/kafka",
    "cassandra",
    "eclipse-mosquitto",
    "ghcr.io/mlflow/mlflow",
    "postgres",
    "prom/prometheus",
    "prom/alertmanager",
    "grafana/grafana",
}
# Projects whose releases have two numbers (PostgreSQL 16.6 is a patch release of 16).
TWO_PART_VERSIONS = {"postgres"}
# Each long-running command and the setting that gives the port it listens on (None: the
# command's own --port option). A process may override it with --port / --metrics-port.
PROCESS_PORTS: dict[tuple[str, ...], str | None] = {
    ("ingest", "serve"): "ingest_port",
    ("score", "stream"): "scorer_metrics_port",
    ("serve",): "serve_port",
    ("alerts", "run"): "engine_metrics_port",
    ("alerts", "serve"): None,
    ("ingest", "run-writer"): "writer_metrics_port",
    ("ingest", "mqtt"): "mqtt_metrics_port",
}
# Processes people and devices reach from outside their container: they must not bind loopback.
BIND_HOSTS = {("ingest", "serve"): "ingest_host", ("serve",): "serve_host"}
# No authentication of their own: published on the Docker host's loopback, if at all.
UNAUTHENTICATED = {"mlflow", "prometheus", "alertmanager", "airflow", "kafka", "cassandra"}
UNAUTHENTICATED |= {"postgres"}
URL_SCHEMES = {"http", "https", "kafka", "cassandra", "mqtt", "mqtts"}


# --- reading the files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        f"{COMPOSE} does not parse into a compose file with services"
    )
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: {line!r} is not KEY=VALUE"
            pairs[key.strip()] = value.strip()
    return pairs


def _dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for line in _dockerfile_lines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def _is_ours(service: dict[str, Any]) -> bool:
    return "build" in service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """What a service's process sees: the image's ENV, then env_file, then environment."""
    env = dict(_dockerfile_env()) if _is_ours(service) else {}
    for name in service.get("env_file", []):
        env.update(_env_file(INFRA / name))
    own = service.get("environment", {})
    if isinstance(own, list):
        own = dict(item.partition("=")[::2] for item in own)
    env.update({k: str(v) for k, v in own.items()})
    return env


def _sensorguard_commands(service: dict[str, Any]) -> list[list[str]]:
    """Every `sensorguard ...` argument list a service runs."""
    if not _is_ours(service):
        return []
    entrypoint = service.get("entrypoint", ["sensorguard"])
    command = list(service.get("command", []))
    if entrypoint == ["sensorguard"]:
        return [command]
    if entrypoint[-2:] == ["/bin/sh", "-c"] or entrypoint == ["/bin/sh", "-c"]:
        parts = re.split(r"&&|;|\|\|", " ".join(command))
        return [shlex.split(p)[1:] for p in parts if shlex.split(p)[:1] == ["sensorguard"]]
    return []


def _process(args: list[str]) -> tuple[str, ...] | None:
    """The PROCESS_PORTS key a `sensorguard` argument list runs, if any."""
    words = tuple(w for w in args[:2] if not w.startswith("-"))
    for key in sorted(PROCESS_PORTS, key=len, reverse=True):
        if words[: len(key)] == key:
            return key
    return None


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _setting(env: dict[str, str], field: str) -> str:
    """A setting's value as a process with `env` reads it (no secrets, no validation)."""
    var = f"{ENV_PREFIX}{field.upper()}"
    if var in env:
        return env[var]
    return str(Settings.model_fields[field].default)


def _listen_port(service: dict[str, Any]) -> tuple[tuple[str, ...], int] | None:
    """(process, port) of a SensorGuard service that serves HTTP, from its settings."""
    for args in _sensorguard_commands(service):
        process = _process(args)
        if process is None:
            continue
        override = _option(args, "--port") or _option(args, "--metrics-port")
        field = PROCESS_PORTS[process]
        if override is not None:
            return process, int(override)
        if field is None:
            default = inspect.signature(alerts_cli.serve).parameters["port"].default
            return process, int(default)
        return process, int(_setting(_environment(service), field))
    return None


def _expose(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split("/")[0]) for p in service.get("expose", [])}


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each `ports:` entry."""
    out = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) in (2, 3), f"ports entry {entry!r}: give HOST:CONTAINER explicitly"
        address = parts[0] if len(parts) == 3 else "0.0.0.0"
        out.append((address, int(parts[-2]), int(parts[-1])))
    return out


def _secret_names(service: dict[str, Any]) -> dict[str, str]:
    """Secret name -> path inside the container."""
    out = {}
    for item in service.get("secrets", []):
        if isinstance(item, str):
            out[item] = f"/run/secrets/{item}"
        else:
            out[item["source"]] = item.get("target", f"/run/secrets/{item['source']}")
    return out


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path of each bind mount from the repository."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("."):
            out[target] = (INFRA / source).resolve()
    return out


def _container_file(service: dict[str, Any], path: str) -> Path | None:
    """The repository file a container path comes from, through a bind mount."""
    for target, source in _bind_mounts(service).items():
        if path == target:
            return source
        if path.startswith(target.rstrip("/") + "/"):
            return source / path[len(target.rstrip("/")) + 1 :]
    return None


# --- the tests ----------------------------------------------------------------------------------


def test_every_server_and_process_is_there(services: dict[str, dict[str, Any]]) -> None:
    images = {str(s.get("image", "")).rpartition(":")[0] for s in services.values()}
    missing = SERVER_IMAGES - images
    assert not missing, f"{COMPOSE.name} runs no {sorted(missing)}"
    assert any(s.get("entrypoint") == ["airflow"] for s in services.values()), "no Airflow"
    mlflow = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri" in mlflow and "postgresql" in mlflow and "@postgres:" in mlflow, (
        "MLflow must keep runs and the registry in the postgres service"
    )
    running = {
        _process(args)
        for s in services.values()
        if "profiles" not in s  # started by `up`, not only on demand
        for args in _sensorguard_commands(s)
    }
    missing_processes = set(PROCESS_PORTS) - running
    assert not missing_processes, f"no service runs `sensorguard {sorted(missing_processes)}`"


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    exact = re.compile(r"^v?\d+\.\d+\.\d+([-.][A-Za-z0-9.]+)*$")
    minor = re.compile(r"^\d+\.\d+([-.][A-Za-z0-9.]+)*$")
    versions = {}
    for name, service in services.items():
        image = str(service.get("image", ""))
        repo, _, tag = image.rpartition(":")
        pinned = exact if repo not in TWO_PART_VERSIONS else minor
        assert repo and pinned.match(tag), f"{name}: image {image!r} is not an exact version"
        versions[repo] = tag
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert versions[OUR_IMAGE] == project["version"], "our image's tag is not the package version"

    def pom(path: str, prop: str) -> str:
        (version,) = re.findall(rf"<{prop}>([^<]+)</{prop}>", (INFRA / path).read_text())
        return str(version)

    assert versions["apache/kafka"] == pom("local/kafka/pom.xml", "kafka.version")
    assert versions["cassandra"] == pom("local/cassandra/pom.xml", "cassandra.version")
    lock = (ROOT / "uv.lock").read_text()
    (mlflow,) = re.findall(r'^name = "mlflow"\nversion = "([^"]+)"', lock, flags=re.M)
    assert versions["ghcr.io/mlflow/mlflow"].removeprefix("v").split("-")[0] == mlflow, (
        "the MLflow server is not the MLflow of uv.lock"
    )


def test_the_image_installs_the_lock(services: dict[str, dict[str, Any]]) -> None:
    lines = _dockerfile_lines()
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(re.match(r"^python:3\.11\.\d+-[a-z-]+$", f) for f in froms), froms
    assert any("uv sync --frozen --no-dev" in line for line in lines), "not installed from uv.lock"
    assert not any(re.search(r"\bpip install\b(?!.*\buv==)", line) for line in lines), (
        "something besides uv is installed with pip: everything comes from uv.lock"
    )
    (uv_version,) = re.findall(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert any(f"uv=={uv_version}" in line for line in lines), "another uv than the Makefile's"
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"
    for name, service in services.items():
        if _is_ours(service):
            assert service["build"] == {"context": "..", "dockerfile": "infra/Dockerfile"}, name


def test_every_process_runs_a_real_command(services: dict[str, dict[str, Any]]) -> None:
    runner, cli = CliRunner(), build_app()
    seen = 0
    for name, service in services.items():
        for args in _sensorguard_commands(service):
            words = [w for w in args if not w.startswith("-")][:2]
            result = runner.invoke(cli, [*args, "--help"] if words else ["--help"])
            assert result.exit_code == 0, f"{name}: `sensorguard {' '.join(args)}` fails"
            seen += 1
    assert seen >= len(PROCESS_PORTS)


def test_every_sensorguard_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name, service in services.items():
        granted = set(_secret_names(service).values())
        for var, value in _environment(service).items():
            if not var.startswith(ENV_PREFIX):
                continue
            field = var.removeprefix(ENV_PREFIX).lower()
            if field.endswith("_file") and field.removesuffix("_file") in SECRET_FIELDS:
                assert value in granted, f"{name}: {var}={value} is not a secret it is given"
                continue
            assert field in fields, f"{name}: {var} is not a setting of Settings"
            assert field not in SECRET_FIELDS, f"{name}: {var} inline; use {var}_FILE (a secret)"


def test_no_secret_is_written_inline(services: dict[str, dict[str, Any]]) -> None:
    secretish = re.compile(r"PASSWORD|PEPPER|SECRET|TOKEN|API_KEY")
    for name, service in services.items():
        for var in _environment(service):
            if secretish.search(var):
                assert var.endswith("FILE"), f"{name}: {var} holds a secret inline; use a file"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for var in list(os.environ):
        if var.startswith(ENV_PREFIX):
            monkeypatch.delenv(var)
    yield monkeypatch


def _settings_of(
    service: dict[str, Any], tmp: Path, monkeypatch: pytest.MonkeyPatch, pepper: str
) -> Settings:
    """The Settings a service's process builds, its secrets read from files under `tmp`."""
    for var, value in _environment(service).items():
        if var.startswith(ENV_PREFIX):
            if var.endswith("_FILE"):
                path = tmp / Path(value).name
                is_pepper = var == f"{ENV_PREFIX}API_KEY_PEPPER_FILE"
                path.write_text((pepper if is_pepper else secrets.token_hex(16)) + "\n")
                value = str(path)
            monkeypatch.setenv(var, value)
    return Settings(_env_file=None)


def test_settings_validate_in_production_and_refuse_placeholders(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, service in services.items():
        if not _is_ours(service):
            continue
        settings = _settings_of(service, tmp_path, clean_env, secrets.token_hex(32))
        assert settings.env == "production", f"{name}: SENSORGUARD_ENV is not production"
        assert settings.api_key_pepper.get_secret_value(), name
        with pytest.raises((ConfigError, ValidationError), match="placeholder"):
            _settings_of(service, tmp_path, clean_env, "change-me")


def test_urls_name_services_on_ports_they_expose(services: dict[str, dict[str, Any]]) -> None:
    published = {
        port: (svc, container)
        for svc, s in services.items()
        for _, port, container in _published(s)
    }
    checked = 0
    for name, service in services.items():
        if not _is_ours(service):
            continue
        volumes = [str(v).split(":")[1] for v in service.get("volumes", [])]
        for var, value in _environment(service).items():
            if not var.startswith(ENV_PREFIX):
                continue
            if value.startswith("sqlite:///"):
                path = value.removeprefix("sqlite:///")
                assert any(path.startswith(v.rstrip("/") + "/") for v in volumes), (
                    f"{name}: {var}={value} is not on a volume; every container would have its own"
                )
                continue
            parts = urlsplit(value)
            if parts.scheme not in URL_SCHEMES:
                continue
            for netloc in parts.netloc.split(","):
                host, sep, port_text = netloc.rpartition("@")[2].partition(":")
                assert sep and port_text.isdigit(), f"{name}: {var}={value}: give the port"
                port = int(port_text)
                if host in ("localhost", "127.0.0.1"):  # a URL for people, on the Docker host
                    assert port in published, f"{var}={value}: no service publishes {port}"
                    target, container = published[port]
                    assert container in _expose(services[target]), f"{var}={value}"
                else:
                    assert host in services, f"{name}: {var}={value}: no service {host!r}"
                    assert port in _expose(services[host]), (
                        f"{name}: {var}={value}: {host} exposes {sorted(_expose(services[host]))}"
                    )
                checked += 1
    assert checked >= 7


def test_each_process_exposes_the_port_its_settings_give(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for _, _, container in _published(service):
            assert container in _expose(service), f"{name} publishes {container}, not exposed"
        found = _listen_port(service)
        if found is None:
            continue
        process, port = found
        assert port > 0, f"{name}: its HTTP port is off"
        assert _expose(service) == {port}, f"{name} listens on {port}, exposes {_expose(service)}"
        test = service.get("healthcheck", {}).get("test", [])
        assert "healthcheck.py" in " ".join(test) and str(port) in test, (
            f"{name}: its healthcheck does not probe port {port}"
        )
        args = _sensorguard_commands(service)[0]
        if process in BIND_HOSTS:
            host = _setting(_environment(service), BIND_HOSTS[process])
            assert host == "0.0.0.0", f"{name} binds {host}: unreachable from other containers"
        if process == ("alerts", "serve"):
            assert _option(args, "--host") == "0.0.0.0", f"{name} binds loopback"
    kafka = _environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert urlsplit(kafka).netloc in {f"kafka:{p}" for p in _expose(services["kafka"])}
    (listener,) = re.findall(r"^listener (\d+)", MOSQUITTO.read_text(), flags=re.M)
    assert _expose(services["mosquitto"]) == {int(listener)}
    mlflow = " ".join(services["mlflow"]["command"])
    assert _expose(services["mlflow"]) == {int(re.findall(r"--port (\d+)", mlflow)[0])}


def test_healthchecks_and_dependencies_fit(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "profiles" not in service and service.get("restart") != "no":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on a missing service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} never completes"
            else:
                assert condition == "service_started", f"{name}: {condition}?"


def test_servers_without_authentication_stay_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in UNAUTHENTICATED:
        for address, port, _ in _published(services[name]):
            assert address == "127.0.0.1", f"{name} is published on {address}:{port}"


def _prometheus() -> dict[str, Any]:
    data = yaml.safe_load(PROMETHEUS.read_text())
    assert isinstance(data, dict)
    return data


def test_prometheus_scrapes_every_process_on_its_port(services: dict[str, dict[str, Any]]) -> None:
    config = _prometheus()
    local = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The alert rules select on the job names (up{job=~"sensorguard-ingest|..."}).
    assert set(jobs) == {job["job_name"] for job in local["scrape_configs"]}
    scraped = set()
    for job_name, job in jobs.items():
        if not job_name.startswith("sensorguard-"):
            continue
        assert job["authorization"]["credentials_file"], f"{job_name} scrapes without a key"
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, _, port = target.partition(":")
                assert host in services, f"{job_name}: no service {host!r}"
                found = _listen_port(services[host])
                assert found is not None, f"{job_name}: {host} serves no SensorGuard HTTP port"
                assert int(port) == found[1], f"{job_name}: {host} listens on {found[1]}"
                scraped.add(host)
    serving = {n for n, s in services.items() if _listen_port(s) and "profiles" not in s}
    assert serving <= scraped, f"not scraped: {sorted(serving - scraped)}"
    (am,) = [t for a in config["alerting"]["alertmanagers"] for s in a["static_configs"]
             for t in s["targets"]]  # fmt: skip
    host, _, port = am.partition(":")
    assert host == "alertmanager" and int(port) in _expose(services[host])


def _container_dir(service: dict[str, Any], directory: str, tmp: Path) -> Path:
    """A copy of `directory` as the container sees it: its bind mounts, secrets as keys."""
    root = tmp / directory.strip("/")
    root.mkdir(parents=True)
    for target, source in _bind_mounts(service).items():
        if target.startswith(directory.rstrip("/") + "/") and source.is_file():
            shutil.copy(source, root / Path(target).relative_to(directory))
    for _, target in _secret_names(service).items():
        if target.startswith(directory.rstrip("/") + "/"):
            (root / Path(target).relative_to(directory)).write_text(secrets.token_hex(16))
    return root


def test_promtool_accepts_the_prometheus_config(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not on PATH (Debian package prometheus)"
    prometheus = services["prometheus"]
    command = prometheus["command"]
    (config,) = [a.split("=", 1)[1] for a in command if a.startswith("--config.file=")]
    assert _container_file(prometheus, config) == PROMETHEUS.resolve()
    # Rule files and the key file resolve against the config's directory in the container:
    # promtool, run on a copy of that directory, fails if any is not there.
    root = _container_dir(prometheus, str(Path(config).parent), tmp_path)
    result = subprocess.run(
        [promtool, "check", "config", str(root / Path(config).name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_mosquitto_refuses_anonymous_clients_and_uses_the_acl(
    services: dict[str, dict[str, Any]],
) -> None:
    mosquitto = services["mosquitto"]
    conf = dict(
        line.split(None, 1) for line in MOSQUITTO.read_text().splitlines() if line[:1].isalpha()
    )
    assert conf.get("allow_anonymous") == "false"
    acl = _container_file(mosquitto, conf["acl_file"])
    assert acl == (INFRA / "local" / "mosquitto" / "acl").resolve(), "not the local broker's ACL"
    entrypoint = _container_file(mosquitto, mosquitto["entrypoint"][-1])
    assert entrypoint is not None and entrypoint.is_file()
    script = entrypoint.read_text()
    assert f"passwd={conf['password_file']}" in script, "the password file is never written"
    rules = acl.read_text()
    env = _environment(services["mqtt-bridge"]) | _environment(services["cli"])
    for var, grant in (("MQTT_USERNAME", "read"), ("MQTT_PUBLISHER_USERNAME", "write")):
        user = env[f"{ENV_PREFIX}{var}"]
        assert re.search(rf"^user {re.escape(user)}\ntopic {grant} sensors/#$", rules, re.M), (
            f"the ACL does not let {user} {grant} sensors/#"
        )
        assert re.search(rf'mosquitto_passwd -b "\$passwd" {re.escape(user)} ', script), user
    local = (INFRA / "local" / "mosquitto" / "mosquitto.conf").read_text()
    for key in ("max_packet_size", "max_queued_messages", "max_queued_bytes", "persistence"):
        (value,) = re.findall(rf"^{key} (\S+)", local, flags=re.M)
        assert conf.get(key) == value, f"{key}: {conf.get(key)} here, {value} in infra/local"


def test_kafka_is_configured_like_the_local_broker(services: dict[str, dict[str, Any]]) -> None:
    env = _environment(services["kafka"])
    local = _env_file(INFRA / "local" / "kafka" / "server.properties")
    for key in (
        "process.roles",
        "node.id",
        "listener.security.protocol.map",
        "inter.broker.listener.name",
        "controller.listener.names",
        "default.replication.factor",
        "min.insync.replicas",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "group.initial.rebalance.delay.ms",
        "auto.create.topics.enable",
    ):
        var = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(var) == local[key], f"{var}={env.get(var)}, server.properties: {local[key]}"


def _datasource_uids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        source = node.get("datasource")
        uid = source.get("uid") if isinstance(source, dict) else None
        if isinstance(uid, str) and not uid.startswith("$"):  # $var: a dashboard variable
            yield uid
        for value in node.values():
            yield from _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasource_uids(value)


def test_grafana_provisions_the_dashboards_from_compose_services(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    mounts = _bind_mounts(grafana)
    (provider_file,) = (INFRA / "grafana" / "provisioning" / "dashboards").glob("*.yml")
    assert _container_file(grafana, f"/etc/grafana/provisioning/dashboards/{provider_file.name}")
    for provider in yaml.safe_load(provider_file.read_text())["providers"]:
        path = provider["options"]["path"]
        assert mounts.get(path) == (INFRA / "grafana" / "dashboards").resolve(), (
            f"the dashboards provider reads {path}, where compose mounts no dashboards"
        )
    sources = [
        src
        for target, src in mounts.items()
        if target.startswith("/etc/grafana/provisioning/datasources/")
    ]
    assert len(sources) == 1, "one datasources file for compose"
    compose_ds = yaml.safe_load(sources[0].read_text())["datasources"]
    local_ds = yaml.safe_load(
        (INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [d["uid"] for d in compose_ds] == [d["uid"] for d in local_ds]
    used = {
        uid
        for board in (INFRA / "grafana" / "dashboards").glob("*.json")
        for uid in _datasource_uids(json.loads(board.read_text()))
    }
    assert used <= {d["uid"] for d in compose_ds}, "dashboards name a datasource not provisioned"
    for ds in compose_ds:
        parts = urlsplit(ds["url"])
        assert parts.hostname in services and parts.port in _expose(services[parts.hostname]), ds
        for value in ds.get("secureJsonData", {}).values():
            for path in re.findall(r"\$__file\{([^}]+)\}", value):
                assert path in _secret_names(grafana).values(), f"{path} is not a secret of it"


def test_every_mounted_file_exists_and_every_secret_is_made(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for target, source in _bind_mounts(service).items():
            assert source.exists(), f"{name} mounts {source} at {target}, which is missing"
        for env_file in service.get("env_file", []):
            assert (INFRA / env_file).is_file(), f"{name}: env_file {env_file} is missing"
        for secret in _secret_names(service):
            assert secret in compose["secrets"], f"{name} uses an undeclared secret {secret}"
    script = SECRETS_SCRIPT.read_text()
    made = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", script))
    gitignore = (INFRA / "compose" / "secrets" / ".gitignore").read_text().split()
    assert "*" in gitignore, "secret files could be committed"
    for secret, spec in compose["secrets"].items():
        path = (INFRA / spec["file"]).resolve()
        assert path.parent == (INFRA / "compose" / "secrets").resolve(), f"{secret}: {path}"
        assert path.name in made, f"{SECRETS_SCRIPT.name} never creates {path.name}"


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (Linux /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_metrics_of_background_processes_are_reachable_from_other_containers(
    services: dict[str, dict[str, Any]], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sensorguard.monitoring import serve_metrics
    from sensorguard.serve_thread import free_port

    settings = _settings_of(services["scorer"], tmp_path, clean_env, secrets.token_hex(32))
    port = free_port()
    with serve_metrics("compose check", settings, port):
        addresses = _listening_addresses(port)
    assert addresses, "nothing listened"
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert not addresses & loopback, "bound to loopback only"
