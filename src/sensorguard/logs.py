"""Logging set-up for the CLI and servers (called by them, never at import)."""

from __future__ import annotations

import logging

from sensorguard.errors import ConfigError


def configure_logging(level: str = "INFO") -> None:
    if level.upper() not in logging.getLevelNamesMapping():
        raise ConfigError(f"log level must be one of DEBUG, INFO, WARNING, ERROR, got {level!r}")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # Drivers are chatty at INFO; their warnings still show.
    for noisy in ("kafka", "cassandra", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
