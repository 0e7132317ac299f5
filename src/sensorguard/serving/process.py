"""`bentoml serve` of serving/service.py as a child process: start, wait until ready, stop.

For the demo, the tests and the benchmarks. The server runs in a session of its own: BentoML
starts worker processes, and stopping the whole process group is what leaves none behind
when the parent is asked to stop or has to be killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sensorguard.errors import BackendUnavailable
from sensorguard.settings import Settings

SERVING_DIR = Path(__file__).resolve().parents[3] / "serving"


def _absolute(url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix):
        return prefix + str(Path(url[len(prefix) :]).absolute())
    return url


def settings_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment that gives a child process these settings' backends.

    `bentoml serve` runs in `serving/`: relative paths (the default `.sensorguard`) would
    point it at other files, so the embedded backends are passed as absolute paths.
    """
    env = dict(os.environ)
    env.update(
        {
            "SENSORGUARD_DATA_DIR": str(settings.data_dir.absolute()),
            "SENSORGUARD_STORE_URL": _absolute(settings.store_url),
            "SENSORGUARD_STREAM_URL": _absolute(settings.stream_url),
            "SENSORGUARD_METADATA_URL": _absolute(settings.metadata_url),
            "SENSORGUARD_MLFLOW_TRACKING_URI": _absolute(settings.mlflow_tracking_uri),
        }
    )
    if settings.model_specs_dir is not None:
        env["SENSORGUARD_MODEL_SPECS_DIR"] = str(settings.model_specs_dir.absolute())
    env.update({f"SENSORGUARD_{k.upper()}": v for k, v in overrides.items()})
    return env


def bentoml_command(host: str, port: int) -> list[str]:
    bentoml = Path(sys.executable).with_name("bentoml")
    return [
        str(bentoml),
        "serve",
        "service:SensorGuard",
        "--working-dir",
        str(SERVING_DIR),
        "--host",
        host,
        "--port",
        str(port),
    ]


def start(
    command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own, its output in ``log_path`` (a file: nobody
    reads it while the server runs, and a full pipe would block the server)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_bentoml(
    env: Mapping[str, str], host: str, port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `bentoml serve service:SensorGuard` with its output in ``log_path``."""
    return start(bentoml_command(host, port), env, log_path)


def wait_ready(
    proc: subprocess.Popen[bytes],
    base_url: str,
    headers: Mapping[str, str],
    log_path: Path,
    timeout_s: float = 120.0,
) -> float:
    """Seconds until `/readyz` answered 200 (the champions are loaded); raises if never."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise BackendUnavailable(f"bentoml serve exited ({proc.returncode}): {tail}")
        try:
            answer = httpx.get(f"{base_url}/readyz", headers=dict(headers), timeout=2)
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code == 200:
            return time.monotonic() - started
        if answer is not None and answer.status_code in (401, 403):
            # Waiting will not help: the server reads another metadata database, or the key
            # lacks "observe".
            raise BackendUnavailable(
                f"bentoml serve refused the API key ({answer.status_code}): {answer.text}"
            )
        time.sleep(0.3)
    raise BackendUnavailable(f"bentoml serve was not ready within {timeout_s:g} s; see {log_path}")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM to the server's process group, SIGKILL to it if still there after
    ``timeout_s`` (a server working off an overload's backlog finishes that first)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
