"""`sensorguard features`: the Feast feature store (export, apply, materialize, read online)."""

from __future__ import annotations

from typing import Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_errors, print_json

app = typer.Typer(
    help=(
        "Feast feature store: export features computed by the shared transforms, apply the "
        "declarations of features/, materialize into the online store, read it back. Runs "
        "Feast's Python API in this process (no `feast` CLI needed).\n\n"
        "Examples:\n\n"
        "  sensorguard features export --days 14\n\n"
        "  sensorguard features apply\n\n"
        "  sensorguard features materialize\n\n"
        "  sensorguard features online th-001 env-003"
    ),
    no_args_is_help=True,
)


@app.command()
def export(
    days: Annotated[
        float | None,
        typer.Option(min=0.1, help="History to export (default: the longest training window)."),
    ] = None,
    group: Annotated[str | None, typer.Option(help="Only this sensor group.")] = None,
    end: Annotated[str | None, typer.Option(help="End, ISO time with zone (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Store -> shared transforms -> the Parquet tables Feast's file sources read."""
    from sensorguard.pipelines import export_features
    from sensorguard.settings import get_settings

    with cli_errors():
        result = export_features(get_settings(), end=end, days=days, group=group)
    if as_json:
        print_json(result)
        return
    for name, table in result["tables"].items():
        typer.echo(
            f"{name}: {table['rows']:,} rows x {table['columns']} features -> {table['path']}"
        )


@app.command()
def apply(as_json: JsonFlag = False) -> None:
    """Register the declarations (writes <data_dir>/feast/feature_store.yaml from settings)."""
    from sensorguard.pipelines import apply_features
    from sensorguard.settings import get_settings

    with cli_errors():
        result = apply_features(get_settings())
    if as_json:
        print_json(result)
        return
    typer.echo(f"applied {', '.join(result['objects'])}")
    for view, count in result["features"].items():
        typer.echo(f"  {view}: {count} features")
    typer.echo(f"config: {result['feature_store_yaml']}")


@app.command()
def materialize(
    start: Annotated[
        str | None, typer.Option(help="Start, ISO time with zone (default: a day before end).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End, ISO time with zone (default: now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply, then load the newest feature row per sensor into the online store."""
    from sensorguard.pipelines import materialize_features
    from sensorguard.settings import get_settings

    with cli_errors():
        result = materialize_features(get_settings(), start=start, end=end)
    if as_json:
        print_json(result)
        return
    typer.echo(
        f"materialized {', '.join(result['views'])} for {result['start']} .. {result['end']}"
    )


@app.command()
def online(
    sensor_ids: Annotated[list[str], typer.Argument(help="Sensors to look up.")],
    as_json: JsonFlag = False,
) -> None:
    """The newest materialized features of some sensors (the detector_inputs_fs service)."""
    from sensorguard.featurestore import online_features
    from sensorguard.settings import get_settings

    with cli_errors():
        frame = online_features(get_settings(), sensor_ids)
    # NaN (a feature this sensor's type lacks) is not JSON: report it as null.
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    if as_json:
        print_json(records)
        return
    for record in records:
        sensor = record.pop("sensor_id")
        present = {k: v for k, v in record.items() if v is not None}
        typer.echo(f"{sensor}: {len(present)} features")
        for key, value in sorted((str(k), v) for k, v in present.items()):
            typer.echo(f"  {key} = {value:.4g}")
