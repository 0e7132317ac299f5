"""`sensorguard bench`: run the benchmarks of bench/ (a checkout's folder) and print their table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

# The benchmarks live in the checkout's bench/ folder, next to src/ (they are not shipped in
# the wheel: they need the repo's serving/ and models/ and write committed results).
BENCH_DIR = Path(__file__).resolve().parents[3] / "bench"


def _listing() -> str:
    """One line per benchmark, from bench/suite/registry.py (plain data: nothing heavy loads)."""
    path = BENCH_DIR / "suite" / "registry.py"
    name = "_sensorguard_bench_registry"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        return f"(no benchmarks: {BENCH_DIR} is missing; run from a checkout)"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return "\n".join(
        f"{b.name:10s} {b.summary}" + (f" [{', '.join(b.needs)}]" if b.needs else "")
        for b in module.BENCHMARKS
    )


def _suite() -> Any:
    if not (BENCH_DIR / "suite" / "__init__.py").is_file():
        from sensorguard.errors import ConfigError

        raise ConfigError(f"the benchmarks are not here: {BENCH_DIR}/suite (run from a checkout)")
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import suite  # type: ignore[import-not-found]

    return suite


def bench(
    names: Annotated[
        list[str] | None, typer.Argument(help="Benchmarks to run (default: all); see --list.")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the benchmarks and exit.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Short runs: fewer rows, rounds and seconds.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for latest.json and README.md [default: bench/results/ and bench/README.md]."
        ),
    ] = None,
    profile: Annotated[
        bool, typer.Option("--profile", help="Also write cProfile reports of the slow paths.")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch folder.")] = False,
) -> None:
    """Benchmark the hot paths against baselines measured in the same run.

    Starts what it needs on 127.0.0.1; Kafka, Cassandra and Mosquitto are the shared servers of `make services-up`, used in a namespace / keyspace of its own per run and cleaned up. Prints a table and writes bench/results/latest.json and bench/README.md.
    """
    from sensorguard.cli._common import cli_errors

    if list_:
        typer.echo(_listing())
        return
    with cli_errors():
        suite = _suite()
        try:
            payload = suite.run(names or [], quick=quick, out_dir=out, profile=profile, keep=keep)
        except KeyError as err:
            raise typer.BadParameter(str(err.args[0])) from None
    _print(payload)


def _print(payload: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            if value != value:  # NaN: not measured
                return "n/a"
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        return str(value)

    table = Table(title=f"sensorguard bench ({payload['meta']['mode']}, {payload['meta']['when']})")
    for column in ("benchmark", "measured", "unit", "ours", "baseline", "ratio", "goal", "met"):
        table.add_column(
            column, justify="right" if column in ("ours", "baseline", "ratio") else "left"
        )
    for r in payload["rows"]:
        met = "" if r["met"] is None else ("[green]yes[/]" if r["met"] else "[red]no[/]")
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        table.add_row(
            r["benchmark"], r["name"], r["unit"], num(r["ours"]), num(r["baseline"]), ratio,
            r["goal"] or "", met,
        )  # fmt: skip
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log keeps whole rows
    console.print(table)
    for path in payload.get("written", []):
        typer.echo(f"wrote {path}")


bench.__doc__ = (bench.__doc__ or "") + "\n\nBenchmarks:\n\n" + _listing().replace("\n", "\n\n")
