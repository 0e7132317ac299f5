"""Helpers for the simulator's tests: a fixed start, a small config, a stand-in ingest server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sensorguard.schemas import BUILTIN_SENSOR_TYPES
from sensorguard.simulate import Simulation, SimulationConfig
from sensorguard.validation import ReadingValidator, StaticCatalog

# A Monday, so a week-long span starts on a working day.
START = datetime(2024, 5, 6, tzinfo=UTC)


def small_config(**overrides: Any) -> SimulationConfig:
    base: dict[str, Any] = {"sensors": 6, "sites": 2, "days": 1.0, "start": START, "seed": 11}
    return SimulationConfig(**(base | overrides))


def ingest_app(sim: Simulation, received: list[tuple[str, str]], *, retry_after: str) -> FastAPI:
    """A stand-in for HTTP ingest: answers 429 to its first request, then validates for real.

    Records (sensor_id, ts) of every reading it answered for in `received`.
    """
    validator = ReadingValidator(
        StaticCatalog.of(sim.sensors, BUILTIN_SENSOR_TYPES), clock=lambda: sim.end
    )
    app = FastAPI()
    calls = {"n": 0}

    @app.post("/v1/readings")
    async def readings(request: Request) -> JSONResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return JSONResponse(
                {"detail": "slow down"}, status_code=429, headers={"Retry-After": retry_after}
            )
        body = await request.json()
        received.extend((raw["sensor_id"], raw["ts"]) for raw in body["readings"])
        result = validator.validate_batch(body["readings"])
        return JSONResponse(
            {
                "accepted": len(result.accepted),
                "rejected": len(result.rejected),
                "rejections": [r.model_dump() for r in result.rejected],
            }
        )

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` under a real uvicorn on an ephemeral port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test ingest server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
