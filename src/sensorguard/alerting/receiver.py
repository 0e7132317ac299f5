"""A webhook receiver on a loopback port that records every JSON body POSTed to `/alerts`.

What the demo points its alert delivery at (and the tests: a real HTTP receiver, no mock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sensorguard.serve_thread import serve_in_thread

Body = dict[str, Any]


class Receiver:
    """Records the bodies; `url` is set while it serves."""

    def __init__(self, status_code: int = 200) -> None:
        self.status_code = status_code
        self.url = ""
        self._bodies: list[Body] = []
        self._changed = threading.Condition()

    async def _alerts(self, request: Request) -> Response:
        body = await request.json()
        with self._changed:
            self._bodies.append(body)
            self._changed.notify_all()
        return JSONResponse({"ok": True}, status_code=self.status_code)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/alerts", self._alerts, methods=["POST"])])

    @property
    def bodies(self) -> list[Body]:
        with self._changed:
            return list(self._bodies)

    def clear(self) -> None:
        with self._changed:
            self._bodies.clear()

    def wait_for(self, pred: Callable[[Body], bool], timeout_s: float, what: str) -> Body:
        """The first body received (so far or within timeout_s) for which pred holds."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for body in self._bodies:
                    if pred(body):
                        return body
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no webhook body with {what} within {timeout_s} s; got {self._bodies}"
                    )
                self._changed.wait(left)


@contextmanager
def webhook_receiver(status_code: int = 200) -> Iterator[Receiver]:
    receiver = Receiver(status_code)
    with serve_in_thread(receiver.app()) as base:
        receiver.url = f"{base}/alerts"
        yield receiver
