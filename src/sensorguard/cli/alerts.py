"""`sensorguard alerts`: rules, the alert lifecycle, dry runs and the engine."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sensorguard.cli._common import JsonFlag, cli_actor, cli_errors, print_json, print_table

if TYPE_CHECKING:
    from sensorguard.alerting.records import Alert
    from sensorguard.alerting.rules import AlertRule

app = typer.Typer(
    help=(
        "Alert rules (threshold, anomaly, deadman), open alerts, acknowledge and resolve, "
        "a dry run of a rule over stored data, and the engine.\n\n"
        "Examples:\n\n"
        "  sensorguard alerts load infra/alerts/\n\n"
        "  sensorguard alerts dry-run stuck-sensors --days 7\n\n"
        "  sensorguard alerts active\n\n"
        "  sensorguard alerts ack 12 --comment 'fan replaced tomorrow'\n\n"
        "  sensorguard alerts resolve 12 --verdict false_alarm\n\n"
        "  sensorguard alerts labels --verdict false_alarm\n\n"
        "  sensorguard alerts run"
    ),
    no_args_is_help=True,
)


def _rules_from_db() -> list[AlertRule]:
    from sensorguard.alerting.rules import stored_rules
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_metadata

    metadata = open_configured_metadata(get_settings())
    try:
        return stored_rules(metadata)
    finally:
        metadata.close()


@app.command("load")
def load(
    path: Annotated[Path, typer.Argument(help="A rules YAML file, or a folder of them.")],
) -> None:
    """Store the rules of a YAML file (or folder): new ones enabled, existing ones replaced."""
    from sensorguard.alerting.rules import load_rules_dir, load_rules_file
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_metadata

    with cli_errors():
        rules = load_rules_dir(path) if path.is_dir() else load_rules_file(path)
        metadata = open_configured_metadata(get_settings())
        try:
            for rule in rules:
                metadata.put_alert_rule(rule.name, rule.definition(), actor=cli_actor())
        finally:
            metadata.close()
    typer.echo(f"stored {len(rules)} rules: {', '.join(r.name for r in rules)}")


@app.command("rules")
def rules(as_json: JsonFlag = False) -> None:
    """The stored rules."""
    with cli_errors():
        found = _rules_from_db()
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    print_table(
        f"{len(found)} alert rules",
        ("name", "condition", "selector", "severity", "enabled"),
        [
            (
                r.name,
                r.condition.model_dump_json(exclude_defaults=True),
                r.selector.model_dump_json(exclude_defaults=True),
                r.severity,
                "yes" if r.enabled else "no",
            )
            for r in found
        ],
    )


def _set_enabled(name: str, enabled: bool) -> None:
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_metadata

    with cli_errors():
        metadata = open_configured_metadata(get_settings())
        try:
            if enabled:
                metadata.enable_alert_rule(name, actor=cli_actor())
            else:
                metadata.disable_alert_rule(name, actor=cli_actor())
        finally:
            metadata.close()
    typer.echo(f"rule {name} {'enabled' if enabled else 'disabled'}")


@app.command("enable")
def enable(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
    """Turn a rule on."""
    _set_enabled(name, True)


@app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
    """Turn a rule off (its open alerts stay until resolved)."""
    _set_enabled(name, False)


def _alert_rows(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return [
        (
            a.alert_id,
            a.rule,
            a.sensor_id,
            a.site,
            a.severity,
            a.state,
            a.kind,
            a.started_at.strftime("%Y-%m-%d %H:%M"),
            a.summary,
        )
        for a in alerts
    ]


_COLUMNS = ("id", "rule", "sensor", "site", "severity", "state", "kind", "started", "summary")

VerdictOption = Annotated[
    str | None,
    typer.Option(
        help="What the alert was: real_fault, false_alarm or maintenance; stored as a label "
        "training reads (see `alerts labels`)."
    ),
]


@app.command("active")
def active(as_json: JsonFlag = False) -> None:
    """Alerts not resolved yet (open or acknowledged)."""
    from sensorguard.alerting.store import AlertStore
    from sensorguard.settings import get_settings

    with cli_errors():
        store = AlertStore.from_settings(get_settings())
        found = store.active()
        store.close()
    if as_json:
        print_json([a.model_dump(mode="json") for a in found])
    else:
        print_table(f"{len(found)} active alerts", _COLUMNS, _alert_rows(found))


@app.command("history")
def history(
    sensor: Annotated[str | None, typer.Option(help="Only this sensor.")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    hours: Annotated[float, typer.Option(min=0.01, help="How far back.")] = 24.0,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Alerts of any state by sensor, site and time, newest first."""
    from sensorguard.alerting.store import AlertStore
    from sensorguard.schemas import utc_now
    from sensorguard.settings import get_settings

    with cli_errors():
        store = AlertStore.from_settings(get_settings())
        found = store.history(
            sensor_id=sensor, site=site, start=utc_now() - timedelta(hours=hours), limit=limit
        )
        store.close()
    if as_json:
        print_json([a.model_dump(mode="json") for a in found])
    else:
        print_table(f"{len(found)} alerts", _COLUMNS, _alert_rows(found))


@app.command("ack")
def ack(
    alert_id: Annotated[int, typer.Argument(help="Alert id (see `alerts active`).")],
    comment: Annotated[str, typer.Option(help="Why; shown on the silence.")] = "acknowledged",
    verdict: VerdictOption = None,
) -> None:
    """Acknowledge an alert: its notifications are silenced (in Alertmanager when configured)."""
    from sensorguard.alerting import actions
    from sensorguard.alerting.delivery import delivery_from_settings
    from sensorguard.alerting.store import AlertStore, check_verdict
    from sensorguard.settings import get_settings

    with cli_errors():
        judged = check_verdict(verdict)
        settings = get_settings()
        store = AlertStore.from_settings(settings)
        delivery = delivery_from_settings(settings)
        try:
            acked = actions.acknowledge(store, delivery, alert_id, cli_actor(), comment, judged)
        finally:
            delivery.close()
            store.close()
    said = f", verdict {judged}" if judged else ""
    typer.echo(f"alert {acked.alert_id} acknowledged (silence {acked.silence_id}{said})")


@app.command("resolve")
def resolve(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    reason: Annotated[str, typer.Option(help="What was done.")] = "resolved by an operator",
    verdict: VerdictOption = None,
) -> None:
    """Resolve an alert by hand; its silence (if any) is lifted and receivers hear 'resolved'."""
    from sensorguard.alerting import actions
    from sensorguard.alerting.delivery import delivery_from_settings
    from sensorguard.alerting.store import AlertStore, check_verdict
    from sensorguard.settings import get_settings

    with cli_errors():
        judged = check_verdict(verdict)
        settings = get_settings()
        store = AlertStore.from_settings(settings)
        delivery = delivery_from_settings(settings)
        try:
            done = actions.resolve(store, delivery, alert_id, cli_actor(), reason, judged)
        finally:
            delivery.close()
            store.close()
    typer.echo(f"alert {done.alert_id} resolved" + (f", verdict {judged}" if judged else ""))


@app.command("verdict")
def verdict_cmd(
    alert_id: Annotated[int, typer.Argument(help="Alert id (any state; see `alerts history`).")],
    verdict: Annotated[str, typer.Argument(help="real_fault, false_alarm or maintenance.")],
) -> None:
    """Judge an alert after the fact (most are resolved by the engine before anyone looks):
    the verdict is stored as a label over its window; nothing is silenced or sent."""
    from sensorguard.alerting import actions
    from sensorguard.alerting.store import AlertStore, check_verdict
    from sensorguard.settings import get_settings

    with cli_errors():
        judged = check_verdict(verdict)
        if judged is None:
            raise typer.BadParameter("give a verdict", param_hint="VERDICT")
        store = AlertStore.from_settings(get_settings())
        try:
            done = actions.judge(store, alert_id, cli_actor(), judged)
        finally:
            store.close()
    typer.echo(f"alert {done.alert_id} ({done.state}) judged {judged}")


@app.command("labels")
def labels(
    sensor: Annotated[str | None, typer.Option(help="Only this sensor.")] = None,
    verdict: Annotated[
        str | None, typer.Option(help="Only this verdict (real_fault, false_alarm, maintenance).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Operators' verdicts on alerts, oldest first: the labels training reads (real faults are
    evaluation events, false alarms normal rows, maintenance windows left out)."""
    from sensorguard.alerting.store import AlertStore, check_verdict
    from sensorguard.settings import get_settings

    with cli_errors():
        judged = check_verdict(verdict)
        store = AlertStore.from_settings(get_settings())
        try:
            found = store.labels.find(
                sensor_ids=None if sensor is None else [sensor], verdict=judged
            )
        finally:
            store.close()
    if as_json:
        print_json([lab.model_dump(mode="json") for lab in found])
        return
    print_table(
        f"{len(found)} verdicts",
        ("label", "alert", "sensor", "rule", "kind", "window", "verdict", "by", "at"),
        [
            (
                lab.label_id,
                lab.alert_id,
                lab.sensor_id,
                lab.rule,
                lab.kind,
                f"{lab.start:%Y-%m-%d %H:%M} -> {lab.end:%H:%M}",
                lab.verdict,
                lab.actor,
                lab.at.strftime("%Y-%m-%d %H:%M"),
            )
            for lab in found
        ],
    )


@app.command("dry-run")
def dry_run_cmd(
    rule: Annotated[str, typer.Argument(help="A stored rule's name (or --file).")],
    days: Annotated[float, typer.Option(min=0.01, help="Days of stored data to replay.")] = 7.0,
    end: Annotated[
        str | None, typer.Option(help="End of the replay (ISO time; default now).")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="Take the rule from this YAML file.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """How many alerts a rule would have raised over stored data, when, and for which sensors;
    nothing is opened or sent."""
    from sensorguard.alerting.replay import dry_run
    from sensorguard.alerting.rules import load_rules_file
    from sensorguard.alerting.runner import with_expected_rates
    from sensorguard.errors import NotFound
    from sensorguard.pipelines.training import parse_time
    from sensorguard.schemas import utc_now
    from sensorguard.settings import get_settings
    from sensorguard.wiring import open_configured_metadata, open_configured_store

    with cli_errors():
        candidates = load_rules_file(file) if file else _rules_from_db()
        chosen = next((r for r in candidates if r.name == rule), None)
        if chosen is None:
            names = [r.name for r in candidates]
            raise NotFound("alert rule", rule, known=names)
        stop = parse_time(end) or utc_now()
        settings = get_settings()
        (chosen,) = with_expected_rates([chosen], settings)
        metadata, store = open_configured_metadata(settings), open_configured_store(settings)
        try:
            result = dry_run(chosen, metadata, store, stop - timedelta(days=days), stop)
        finally:
            store.close()
            metadata.close()
    if as_json:
        print_json(
            {
                "rule": result.rule,
                "sensors": result.sensors,
                "readings": result.readings,
                "scores": result.scores,
                "alerts": [a.model_dump(mode="json") for a in result.alerts],
                "by_sensor": dict(result.by_sensor),
                "note": result.note,
            }
        )
        return
    if result.note:
        typer.echo(f"{rule}: {result.note}")
        return
    typer.echo(
        f"{rule}: {len(result.alerts)} alerts over {days:g} days on {len(result.by_sensor)} of "
        f"{result.sensors} matching sensors ({result.readings:,} readings, "
        f"{result.scores:,} scores replayed)"
    )
    print_table("would have raised", _COLUMNS, _alert_rows(result.alerts[:50]))


@app.command("run")
def run(
    tick_s: Annotated[
        float, typer.Option(min=1, help="Timer period (deadman and consumer-lag rules).")
    ] = 30.0,
    until_idle: Annotated[
        float | None, typer.Option(help="Exit after this many seconds without data.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics and /healthz; 0: none [default: settings, 8003]."),
    ] = None,
) -> None:
    """Run the engine: `anomaly-scores`, `sensor-data` and `sensor-data-dlq` in, alerts out
    (Alertmanager, a webhook or the log, by settings); deadman and consumer-lag rules on a
    timer. Until SIGTERM or Ctrl-C."""
    from sensorguard.alerting.delivery import delivery_from_settings
    from sensorguard.alerting.engine import AlertEngine
    from sensorguard.alerting.runner import (
        ENGINE_GROUP,
        ENGINE_TOPICS,
        run_engine,
        with_expected_rates,
    )
    from sensorguard.alerting.store import AlertStore
    from sensorguard.monitoring import publisher_for, serve_metrics
    from sensorguard.settings import get_settings
    from sensorguard.validation import CachedCatalog
    from sensorguard.wiring import open_configured_metadata, open_configured_stream

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with cli_errors():
        settings = get_settings()
        metadata, stream = open_configured_metadata(settings), open_configured_stream(settings)
        store = AlertStore.from_settings(settings)
        rules = with_expected_rates(_rules_from_db(), settings)
        delivery = delivery_from_settings(settings)
        engine = AlertEngine(rules, store, CachedCatalog(metadata), delivery=delivery)
        port = settings.engine_metrics_port if metrics_port is None else metrics_port
        publisher = publisher_for(
            stream,
            settings,
            "alert-engine",
            lag_group=ENGINE_GROUP,
            lag_topics=ENGINE_TOPICS,
            error_fields=("undecodable",),
        )
        try:
            with serve_metrics("alert engine", settings, port, announce=typer.echo):
                stats = run_engine(
                    engine,
                    stream,
                    metadata,
                    tick_s=tick_s,
                    until_idle_s=until_idle,
                    stop=stop,
                    publisher=publisher,
                )
        finally:
            delivery.close()
            store.close()
            stream.close()
            metadata.close()
    typer.echo(
        f"{len(rules)} rules over {stats.scores:,} scores, {stats.readings:,} readings and "
        f"{stats.dead_letters:,} dead letters ({stats.unattributed:,} naming no sensor): "
        f"{stats.opened} alerts opened, {stats.resolved} resolved"
    )


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8002,
) -> None:
    """Serve the operators' app: the page /live (sign in with a key), the live feed
    (WebSocket /v1/live?site=S), GET /v1/alerts, /v1/alerts/history, /v1/rules, /v1/sensors,
    /v1/sensors/ID/scores; POST /v1/alerts/ID/ack and /resolve; PUT /v1/rules/NAME. Every route
    needs an API key.

    Notifications link to the page at SENSORGUARD_OPERATORS_URL; set it to where people reach
    this server if that is not http://127.0.0.1:8002."""
    import uvicorn

    from sensorguard.alerting.api import create_alerts_app
    from sensorguard.settings import get_settings

    with cli_errors():
        app = create_alerts_app(get_settings())
    uvicorn.run(app, host=host, port=port, log_level="info")
