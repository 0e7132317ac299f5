"""BentoML's refusals in the shape its OpenAPI schema documents: `{"error": text, "detail": text}`.

BentoML 1.4 documents every error body as that object, but answers a request that fails its
input validation with `detail` as pydantic's list of problems, and a BentoMLException under
500 (InvalidArgument, NotFound) as a one-element array (its handler builds `({"error": ..},)`).
This middleware hands clients what the schema says: one object, each problem located
(`readings[0].ts: Input should be ...`), as the scoring service names fields itself.
"""

from __future__ import annotations

import json
from typing import Any

from sensorguard.http_limits import ASGIApp, Message, Receive, Scope, Send, send_json


class DocumentedErrors:
    """Rewrite the JSON body of every 4xx answer of the wrapped app into the documented shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def reshaped(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if 400 <= message["status"] < 500 and _is_json(message):
                    held = message  # sent with the rewritten body, whose length it must carry
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = documented(b"".join(chunks))
                headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, reshaped)


def _is_json(start: Message) -> bool:
    return any(
        k.lower() == b"content-type" and v.startswith(b"application/json")
        for k, v in start.get("headers", [])
    )


def documented(body: bytes) -> bytes:
    """The error body as `{"error": text, "detail": text}`; anything else is left as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("error", ""), str):
        return body
    detail = data.get("detail")
    if isinstance(detail, list):
        data["detail"] = "; ".join(_problem(p) for p in detail)
    elif detail is not None and not isinstance(detail, str):
        data["detail"] = json.dumps(detail)
    data.setdefault("error", data.get("detail") or "bad request")
    return json.dumps(data).encode()


def _problem(problem: Any) -> str:
    """`readings[0].ts: Input should be ...` from one of pydantic's error dicts."""
    if not isinstance(problem, dict):
        return str(problem)
    where = ""
    for part in problem.get("loc", ()):
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return f"{where or 'body'}: {problem.get('msg', 'invalid')}"


class JsonBodiesOnly:
    """Answer 415 to a request body that is not JSON, before BentoML parses it.

    The service's every input is JSON, but BentoML reads a body by its declared type first:
    `multipart/form-data` without a boundary made its form parser raise, answered as a 500
    (found by schemathesis). A client with the wrong type is told what was expected instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            declared = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"content-type"),
                "",
            )
            media = declared.split(";", 1)[0].strip().lower()
            if media and media != "application/json":
                await send_json(
                    send,
                    415,
                    {
                        "error": "unsupported media type",
                        "detail": f"Content-Type: expected application/json, got {declared!r}",
                    },
                )
                return
        await self.app(scope, receive, send)
