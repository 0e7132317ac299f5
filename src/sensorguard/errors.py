"""The project's exception hierarchy: specific errors raised at the boundaries."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

ECHO_MAX_CHARS = 100
"""How much of an offending value a message repeats; the rest is summarised by its length."""


def clip(text: str, limit: int = ECHO_MAX_CHARS) -> str:
    """`text`, or its first `limit` characters and how long it was.

    Messages repeat what a client sent, and a client chooses its size: a 2 kB id echoed whole
    into every rejection, answer and dead letter multiplies what one bad request costs.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


class SensorGuardError(Exception):
    """Base of every error SensorGuard raises on purpose."""


class ConfigError(SensorGuardError):
    """Settings, a model spec or another configuration file is wrong."""


class ValidationFailed(SensorGuardError):
    """A value at a boundary is not what was expected.

    Carries the field, the offending value and what was expected, so that callers
    (HTTP answers, the dead-letter topic, the CLI) can report all three.
    """

    def __init__(self, field: str, value: object, expected: str, *, subject: str | None = None):
        self.field = field
        self.value = value
        self.expected = expected
        self.subject = subject
        where = f" for sensor {clip(subject)}" if subject else ""
        super().__init__(f"{clip(field)} must be {expected}, got {clip(repr(value))}{where}")


class NotFound(SensorGuardError):
    """A named thing (sensor, sensor type, model, rule) does not exist.

    Given `known`, the message also says what does exist (or the closest names, if many do),
    so the reader can fix a typo without another command.
    """

    def __init__(
        self, kind: str, name: str, *, known: Iterable[str] | None = None, context: str = ""
    ):
        self.kind = kind
        self.name = name
        message = f"{context}no {kind} named {name!r}"
        if known is not None:
            names = sorted(known)
            if not names:
                message += f"; no {kind} is registered yet"
            elif len(names) <= 12:
                message += f"; known: {', '.join(names)}"
            else:
                close = difflib.get_close_matches(name, names, n=3)
                message += f"; {len(names)} registered"
                if close:
                    message += f"; did you mean {', '.join(close)}?"
        super().__init__(message)


class AlreadyExists(SensorGuardError):
    """A named thing would be created twice."""

    def __init__(self, kind: str, name: str):
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} already exists")


class BackendUnavailable(SensorGuardError):
    """A store, stream or server could not be reached (after retries)."""


class DeliveryRejected(SensorGuardError):
    """A notification server answered a request with a client error (4xx): retrying cannot help."""


class UnsupportedURL(ConfigError):
    """A backend URL has a scheme nothing implements."""

    def __init__(self, setting: str, url: str, schemes: tuple[str, ...]):
        super().__init__(
            f"{setting} must start with one of {', '.join(s + '://' for s in schemes)}, got {url!r}"
        )


class Unauthorized(SensorGuardError):
    """A request came without a usable API key (HTTP 401); the message never repeats the key."""

    status_code = 401

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(
            f"{where} requires an API key in the X-API-Key header or as "
            f"'Authorization: Bearer <key>'; {problem}"
        )


class Forbidden(SensorGuardError):
    """A known caller asked for something its role or its key's binding does not allow (403)."""

    status_code = 403

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where} is not allowed: {problem}")


class ModelUnavailable(SensorGuardError):
    """A sensor's group has no model under the alias being served (HTTP 503)."""

    status_code = 503

    def __init__(self, group: str, alias: str, sensor_id: str):
        self.group = group
        self.alias = alias
        super().__init__(
            f"sensor {sensor_id!r} belongs to group {group!r}, which has no @{alias} model yet; "
            f"train one (sensorguard train --group {group}) or promote a version"
        )
