"""`sensorguard sensors` and `sensorguard sensor-types`: the sensor registry from the shell."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sensorguard.cli._common import (
    JsonFlag,
    cli_actor,
    cli_errors,
    describe_validation_error,
    print_json,
    print_table,
)
from sensorguard.errors import ConfigError, SensorGuardError, ValidationFailed

if TYPE_CHECKING:
    from sensorguard.metadata import MetadataStore
    from sensorguard.schemas import Sensor, SensorType

sensors_app = typer.Typer(
    help=(
        "Register, list and remove sensors.\n\n"
        "Examples:\n\n"
        "  sensorguard sensors add th-001 --type climate --site plant-a --tag floor=2\n\n"
        "  sensorguard sensors list --site plant-a --json\n\n"
        "  sensorguard sensors import fleet.csv --upsert"
    ),
    no_args_is_help=True,
)
types_app = typer.Typer(
    help=(
        "List, inspect and register sensor types (the channels a device reports, with units "
        "and plausible ranges).\n\n"
        "Examples:\n\n"
        "  sensorguard sensor-types list\n\n"
        "  sensorguard sensor-types show climate\n\n"
        "  sensorguard sensor-types add --file co2.yaml"
    ),
    no_args_is_help=True,
)


def open_cli_store() -> MetadataStore:
    """The metadata store the settings name, with the built-in sensor types present."""
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_metadata

    store = open_configured_metadata(get_settings())
    try:
        store.seed_builtin_types()
    except BaseException:
        store.close()
        raise
    return store


# -- sensor types --------------------------------------------------------------------------


def load_sensor_type_file(path: Path) -> SensorType:
    """Read a sensor type from YAML or JSON; every error names the file and the field."""
    from pydantic import ValidationError

    from sensorguard.schemas import SensorType

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{path}: not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
            ) from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
    else:
        raise ConfigError(f"{path}: expected a .yaml, .yml or .json file")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping with name, description and channels, "
            f"got {type(data).__name__}"
        )
    try:
        return SensorType.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(str(path), err)) from None


def _channels_summary(stype: SensorType) -> str:
    return ", ".join(
        f"{name} ({spec.unit}, {spec.min:g}..{spec.max:g})" for name, spec in stype.channels.items()
    )


@types_app.command("list")
def list_types(as_json: JsonFlag = False) -> None:
    """List the registered sensor types (the built-in ones are always present)."""
    with cli_errors(), open_cli_store() as store:
        types = store.list_sensor_types()
    if as_json:
        print_json([t.model_dump(mode="json") for t in types])
        return
    print_table(
        "sensor types",
        ("name", "description", "channels (unit, range)"),
        [(t.name, t.description, _channels_summary(t)) for t in types],
    )


@types_app.command("show")
def show_type(
    name: Annotated[str, typer.Argument(help="Sensor type name, e.g. climate.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one sensor type's channels, units and plausible ranges."""
    with cli_errors(), open_cli_store() as store:
        stype = store.get_sensor_type(name)
    if as_json:
        print_json(stype.model_dump(mode="json"))
        return
    print_table(
        f"sensor type {stype.name}: {stype.description}",
        ("channel", "unit", "min", "max", "description"),
        [(c, s.unit, f"{s.min:g}", f"{s.max:g}", s.description) for c, s in stype.channels.items()],
    )


@types_app.command("add")
def add_type(
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            help="YAML or JSON file with name, description and channels{name: {unit, min, max}}.",
        ),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a sensor type of the same name.")
    ] = False,
) -> None:
    """Register a sensor type from a file.

    Example file (co2.yaml):

        name: co2
        description: indoor air quality
        channels:
          co2: {unit: ppm, min: 0, max: 10000}
          temperature: {unit: °C, min: -40, max: 85}
    """
    with cli_errors():
        stype = load_sensor_type_file(file)
        with open_cli_store() as store:
            store.add_sensor_type(stype, replace=replace, actor=cli_actor())
    typer.echo(f"registered sensor type {stype.name}: {_channels_summary(stype)}")


# -- sensors -------------------------------------------------------------------------------


def _parse_tags(pairs: Sequence[str], field: str) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(field, pair, "KEY=VALUE")
        tags[key.strip()] = value.strip()
    return tags


def sensor_from_row(raw: object) -> Sensor:
    """A Sensor from one row of an import file (or the options of `sensors add`).

    Accepts `type` for sensor_type, tags as a mapping or as `k=v;k2=v2`, and an empty
    installed_on, which is what spreadsheets export.
    """
    from pydantic import ValidationError

    from sensorguard.schemas import Sensor
    from sensorguard.validation import validation_failed_from

    if not isinstance(raw, Mapping):
        raise ValidationFailed("row", raw, "an object with sensor_id, sensor_type and site")
    data = {str(k).strip(): v for k, v in raw.items()}
    if "type" in data and "sensor_type" not in data:
        data["sensor_type"] = data.pop("type")
    if isinstance(data.get("tags"), str):
        text = data["tags"].strip()
        data["tags"] = _parse_tags([p for p in text.split(";") if p.strip()], "tags")
    for optional in ("installed_on", "location"):
        if data.get(optional) in ("", None):
            data.pop(optional, None)
    unknown = sorted(set(data) - set(Sensor.model_fields))
    if unknown:
        raise ValidationFailed(
            unknown[0], data[unknown[0]], f"absent (a sensor has {', '.join(Sensor.model_fields)})"
        )
    try:
        return Sensor.model_validate(data)
    except ValidationError as err:
        raise validation_failed_from(err, data, what="a sensor") from None


def _sensor_json(sensor: Sensor) -> dict[str, Any]:
    return sensor.model_dump(mode="json")


def _tags_text(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


@sensors_app.command("add")
def add_sensor(
    sensor_id: Annotated[str, typer.Argument(help="Unique id, e.g. th-001 (no spaces, / + #).")],
    sensor_type: Annotated[
        str, typer.Option("--type", "-t", help="A registered sensor type, e.g. climate.")
    ],
    site: Annotated[str, typer.Option("--site", "-s", help="Site the sensor belongs to.")],
    location: Annotated[str, typer.Option(help="Free text, e.g. 'hall 3, north wall'.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE label; repeat for more.")
    ] = None,
    installed_on: Annotated[
        str | None, typer.Option("--installed-on", help="Installation date, YYYY-MM-DD.")
    ] = None,
) -> None:
    """Register one sensor.

    Example: sensorguard sensors add th-001 --type climate --site plant-a --tag floor=2
    """
    with cli_errors():
        sensor = sensor_from_row(
            {
                "sensor_id": sensor_id,
                "sensor_type": sensor_type,
                "site": site,
                "location": location,
                "tags": _parse_tags(tag or [], "--tag"),
                "installed_on": installed_on,
            }
        )
        with open_cli_store() as store:
            store.add_sensor(sensor, actor=cli_actor())
    typer.echo(f"registered sensor {sensor.sensor_id} ({sensor.sensor_type} at {sensor.site})")


@sensors_app.command("list")
def list_sensors(
    site: Annotated[str | None, typer.Option(help="Only sensors at this site.")] = None,
    sensor_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only sensors of this type.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List registered sensors, optionally of one site or type."""
    with cli_errors(), open_cli_store() as store:
        sensors = store.list_sensors(site=site, sensor_type=sensor_type)
    if as_json:
        print_json([_sensor_json(s) for s in sensors])
        return
    print_table(
        f"{len(sensors)} sensors",
        ("sensor_id", "type", "site", "location", "tags", "installed_on"),
        [
            (s.sensor_id, s.sensor_type, s.site, s.location, _tags_text(s.tags), s.installed_on)
            for s in sensors
        ],
    )


@sensors_app.command("show")
def show_sensor(
    sensor_id: Annotated[str, typer.Argument(help="The sensor's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one sensor and the channels its type declares."""
    with cli_errors(), open_cli_store() as store:
        sensor = store.get_sensor(sensor_id)
        stype = store.get_sensor_type(sensor.sensor_type)
    if as_json:
        print_json({"sensor": _sensor_json(sensor), "sensor_type": stype.model_dump(mode="json")})
        return
    print_table(
        f"sensor {sensor.sensor_id}",
        ("field", "value"),
        [
            ("type", sensor.sensor_type),
            ("site", sensor.site),
            ("location", sensor.location),
            ("tags", _tags_text(sensor.tags)),
            ("installed_on", sensor.installed_on),
            ("channels", _channels_summary(stype)),
        ],
    )


@sensors_app.command("remove")
def remove_sensor(sensor_id: Annotated[str, typer.Argument(help="The sensor's id.")]) -> None:
    """Unregister a sensor. Its stored readings stay; new readings from it are rejected."""
    with cli_errors(), open_cli_store() as store:
        store.remove_sensor(sensor_id, actor=cli_actor())
    typer.echo(f"removed sensor {sensor_id}")


def _read_import_rows(path: Path) -> list[object]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets like to add a BOM
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "sensor_id" not in [f.strip() for f in reader.fieldnames]:
            raise ConfigError(
                f"{path}: expected a header row with sensor_id, sensor_type, site "
                "(and optionally location, tags, installed_on)"
            )
        return list(reader)
    if suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{path}: not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
            ) from None
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: expected a JSON list of sensors, got {type(rows).__name__}")
        return rows
    raise ConfigError(f"{path}: expected a .csv or .json file")


@sensors_app.command("import")
def import_sensors(
    file: Annotated[Path, typer.Argument(help="CSV with a header row, or a JSON list of objects.")],
    upsert: Annotated[
        bool, typer.Option("--upsert", help="Update sensors that exist instead of rejecting them.")
    ] = False,
) -> None:
    """Register many sensors from a file; bad rows are reported and the good ones kept.

    Columns (CSV) or keys (JSON): sensor_id, sensor_type (or type) and site.

    Optional: location, tags (CSV: k=v;k2=v2; JSON: an object), installed_on (YYYY-MM-DD).

    Rows are numbered from 1, not counting the CSV header. Exits 1 if any row was rejected.

    Example: sensorguard sensors import fleet.csv --upsert
    """
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    rejected = 0
    with cli_errors():
        rows = _read_import_rows(file)
        actor = cli_actor()
        with open_cli_store() as store:
            # One transaction per row, so one bad row cannot take the good ones down with it.
            for number, raw in enumerate(rows, start=1):
                try:
                    outcome = store.add_sensors([sensor_from_row(raw)], upsert=upsert, actor=actor)
                except SensorGuardError as err:
                    rejected += 1
                    typer.echo(f"{file}: row {number}: {err}", err=True)
                    continue
                for change in counts:
                    counts[change] += len(getattr(outcome, change))
    typer.echo(
        f"{file}: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {rejected} rejected"
    )
    if rejected:
        raise typer.Exit(1)
