"""The `/score` baseline: one Starlette route around the same `ScoringService.score`, no BentoML.

`run.py` starts it as a process of its own (as `bentoml serve` is), settings from the same
SENSORGUARD_* variables: `python baseline_server.py --port 8123`. The route does what the
service's route must do at least: parse `ScoreRequest`, run the same `ScoringService.score` in
the thread pool (as BentoML runs a sync API), serialise `ScoreAnswer`. It has no API-key check,
no body limit and no metrics middleware: what those and BentoML cost is what is measured.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from sensorguard.serving.service import ScoringService


def create_app(service: ScoringService) -> Starlette:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from sensorguard.serving.service import ScoreRequest

    async def score(request: Request) -> Response:
        parsed = ScoreRequest.model_validate_json(await request.body())
        answer = await run_in_threadpool(service.score, parsed.readings)
        return Response(answer.model_dump_json(), media_type="application/json")

    async def readyz(_: Request) -> Response:
        return Response(status_code=200 if service.ready() else 503)

    return Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/readyz", readyz)])


def main() -> None:
    import uvicorn

    from sensorguard.serving.service import ScoringService
    from sensorguard.settings import get_settings

    parser = argparse.ArgumentParser(description="Serve the /score baseline on 127.0.0.1.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    service = ScoringService.from_settings(get_settings())
    service.start()
    uvicorn.run(
        create_app(service), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
