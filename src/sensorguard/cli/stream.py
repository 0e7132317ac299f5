"""`sensorguard stream …`: topics and the dead-letter queue."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated

import typer

from sensorguard.cli._common import friendly_errors

app = typer.Typer(help="The message stream (embedded log, or Kafka).", no_args_is_help=True)


@app.command("create-topics")
@friendly_errors
def create_topics() -> None:
    """Create the data-path topics (safe to run twice)."""
    from sensorguard.settings import get_settings
    from sensorguard.stream import ALL_TOPICS
    from sensorguard.wiring import open_configured_stream

    open_configured_stream(get_settings()).close()
    typer.echo("topics ready: " + ", ".join(ALL_TOPICS))


@app.command("dlq")
@friendly_errors
def dlq(
    limit: Annotated[int, typer.Option(help="Dead letters to print at most.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show what sits in the dead-letter topic, and a count by reason. Reads without committing."""
    from sensorguard.settings import get_settings
    from sensorguard.stream import SENSOR_DATA_DLQ
    from sensorguard.stream.codec import DeadLetter, decode_dead_letter
    from sensorguard.wiring import open_configured_stream

    stream = open_configured_stream(get_settings())
    # A throwaway group that never commits: looking must not move anybody's offsets.
    consumer = stream.consumer([SENSOR_DATA_DLQ], group="cli-dlq-peek")
    letters: list[DeadLetter] = []
    while batch := consumer.poll(1000, timeout_s=1.0):
        letters.extend(decode_dead_letter(r.value) for r in batch)
    consumer.close()
    stream.close()
    if as_json:
        for letter in letters[:limit]:
            typer.echo(letter.model_dump_json())
        return
    by_field = Counter(letter.field for letter in letters)
    typer.echo(f"{len(letters)} dead letters; by field: {json.dumps(dict(by_field))}")
    for letter in letters[:limit]:
        typer.echo(f"[{letter.source}] {letter.reason}")
