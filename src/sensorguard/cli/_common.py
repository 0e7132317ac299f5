"""Helpers every CLI module shares: error reporting, tables and JSON output."""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from sensorguard.errors import SensorGuardError

P = ParamSpec("P")
R = TypeVar("R")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def cli_errors() -> Iterator[None]:
    """Expected failures become one line on stderr and exit code 1, not a traceback."""
    try:
        yield
    except SensorGuardError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def cli_actor() -> str:
    """Who the audit log credits for a command run from a shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli"


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    Console().print(table)


def describe_validation_error(source: str, err: ValidationError) -> str:
    """Every problem pydantic found, on one line: `source: field.path: what is wrong; ...`."""
    problems = []
    for item in err.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        got = item.get("input")
        if item["type"] != "missing" and isinstance(got, str | int | float | bool):
            message += f" (got {got!r})"
        problems.append(f"{field}: {message}")
    return f"{source}: {'; '.join(problems)}"


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `cli_errors`, for commands whose whole body is one call chain."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with cli_errors():
            return fn(*args, **kwargs)

    return wrapper
