"""Runs an ASGI app on a loopback port in a background thread (demo, tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sensorguard.errors import BackendUnavailable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(
    app: Any, *, port: int | None = None, host: str = "127.0.0.1", timeout_s: float = 20.0
) -> Iterator[str]:
    """Yield the base URL while uvicorn serves `app` on `host` (loopback unless told); stop it
    on exit. The URL names 127.0.0.1 when bound to every interface: it is for this host."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise BackendUnavailable(f"HTTP server on {host}:{port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
