"""The `sensorguard` command line: one Typer app, one module per command group."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

# (module under sensorguard.cli, attribute, group name or None for a top-level command).
# Each module imports its heavy dependencies inside its commands, so `--help` stays instant.
_GROUPS: tuple[tuple[str, str, str | None], ...] = (
    ("sensors", "sensors_app", "sensors"),
    ("sensors", "types_app", "sensor-types"),
    ("users", "app", "users"),
    ("simulate", "simulate", None),
    ("ingest", "app", "ingest"),
    ("store", "app", "store"),
    ("stream", "app", "stream"),
    ("demo", "demo", None),
    ("report", "report", None),
    ("backtest", "backtest", None),
    ("train", "train", None),
    ("models", "app", "models"),
    ("features", "app", "features"),
    ("drift", "app", "drift"),
    ("feedback", "app", "feedback"),
    ("score", "app", "score"),
    ("score", "serve", None),
    ("alerts", "app", "alerts"),
    ("bench", "bench", None),
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="sensorguard",
        help="SensorGuard: find anomalies in IoT sensor streams.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )

    @app.callback()
    def configure(
        log_level: Annotated[
            str,
            typer.Option(
                envvar="SENSORGUARD_LOG_LEVEL",
                help="Log level of every command (DEBUG, INFO, WARNING, ERROR).",
            ),
        ] = "INFO",
    ) -> None:
        """SensorGuard: find anomalies in IoT sensor streams."""
        from sensorguard.cli._common import cli_errors
        from sensorguard.logs import configure_logging

        with cli_errors():
            configure_logging(log_level)

    for module_name, attr, group in _GROUPS:
        module = importlib.import_module(f"sensorguard.cli.{module_name}")
        obj = getattr(module, attr)
        if group is None:
            app.command(name=attr.replace("_", "-"))(obj)
        else:
            app.add_typer(obj, name=group)
    return app


def main() -> None:
    build_app()()
