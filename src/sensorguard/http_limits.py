"""A request body limit for any ASGI app, counted before the body is parsed.

Content-Length beyond the limit is refused at once; a chunked body is counted as it arrives
and refused as soon as it passes the limit, so no service parses (or buffers) more than it
would accept.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a chunked body passes the limit.

    An HTTPException so that a framework reading the body passes it on to be answered 413:
    FastAPI answers any other error raised while it reads a body as a 400 ("There was an
    error parsing the body"), which is how an oversized chunked POST got a 400.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes, f"more than {max_bytes} bytes sent"))


def _too_large(max_bytes: int, got: str) -> str:
    return f"request body must be at most {max_bytes} bytes, got {got}"


class BodyLimitMiddleware:
    """Answer 413 to any http request whose body exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, _too_large(self.max_bytes, f"{int(declared)} bytes declared"))
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as err:
            # An app that did not answer it itself (one not built on Starlette's handlers).
            if not started:
                await self._refuse(send, err.detail)

    async def _refuse(self, send: Send, detail: str) -> None:
        await send_json(send, 413, {"detail": detail})


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    """Answer a request from an ASGI middleware, before any app has: `payload` as JSON."""
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
