"""The report as one self-contained HTML file: tables, and plots inlined as PNG data URIs."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from sensorguard.report.data import DriftRow, ReportData
    from sensorguard.settings import Settings

# Section ids and titles: the page test and readers find the sections by them.
SECTIONS = (
    ("fleet", "Fleet overview"),
    ("sensor", "One sensor: scores, faults and alerts"),
    ("models", "Model comparison"),
    ("drift", "Drift"),
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
.dim { color: #666; font-size: 0.85rem; } .yes { color: #b00; font-weight: 600; }
nav a { margin-right: 1rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{_e(c)}</td>" if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{_e(alt)}'>"


def _num(value: object, fmt: str = ".2f") -> str:
    try:
        return format(float(str(value)), fmt)
    except ValueError:
        return "-"


def _summary(data: ReportData) -> str:
    parts = []
    if data.steps:
        total = sum(s.seconds for s in data.steps)
        parts.append(
            _table(
                ("step", "what happened", "seconds"),
                [(_e(s.step), _e(s.result), f"{s.seconds:.1f}") for s in data.steps]
                + [("<b>total</b>", "", f"{total:.1f}")],
                {2},
            )
        )
    flagged = int(data.scores["flag"].sum()) if len(data.scores) else 0
    champions = [v for v in data.versions if "champion" in v["aliases"].split(",")]
    parts.append(
        _table(
            ("sensors", "readings", "scores", "flagged", "alerts", "champions"),
            [
                (
                    f"{len(data.sensors):,}",
                    f"{len(data.readings):,}",
                    f"{len(data.scores):,}",
                    f"{flagged:,}",
                    f"{len(data.alerts):,}",
                    _e(", ".join(f"{v['group']} v{v['version']}" for v in champions) or "none"),
                )
            ],
            {0, 1, 2, 3, 4},
        )
    )
    return "".join(parts)


def _fleet(data: ReportData) -> str:
    from sensorguard.report.figures import fleet_overview

    if data.readings.empty:
        return "<p>No readings in the report's window.</p>"
    counts: dict[tuple[str, str], int] = {}
    for s in data.sensors:
        counts[(s.site, s.sensor_type)] = counts.get((s.site, s.sensor_type), 0) + 1
    sites = sorted({k[0] for k in counts})
    types = sorted({k[1] for k in counts})
    grid = _table(
        ("site", *types),
        [(_e(site), *(counts.get((site, t), 0) for t in types)) for site in sites],
        set(range(1, len(types) + 1)),
    )
    return grid + _img(fleet_overview(data.readings, data.sensors, data.drift), "fleet overview")


def focus_sensor(data: ReportData) -> str | None:
    """The sensor the report follows: of a drifted group if any, with the most alerts, then
    the most flagged readings."""
    from sensorguard.specs import REGISTERED_MODEL_PREFIX

    ids = {s.sensor_id for s in data.sensors}
    if not ids:
        return None
    drifted = {d.group for d in data.drift if d.drifted}
    # A sensor's group is the model that scored it (sensorguard-<group>).
    models: dict[Any, Any] = (
        data.scores.groupby("sensor_id")["model"].last().to_dict() if len(data.scores) else {}
    )
    group_of = {str(k): str(v).removeprefix(REGISTERED_MODEL_PREFIX) for k, v in models.items()}
    alerts: dict[str, int] = {}
    for a in data.alerts:
        alerts[a.sensor_id] = alerts.get(a.sensor_id, 0) + 1
    flags = (
        data.scores[data.scores["flag"]].groupby("sensor_id").size().to_dict()
        if len(data.scores)
        else {}
    )
    return max(
        sorted(ids),
        key=lambda i: (group_of.get(i) in drifted, alerts.get(i, 0), flags.get(i, 0)),
    )


def _sensor(data: ReportData) -> str:
    from sensorguard.report.figures import one_sensor

    sensor_id = focus_sensor(data)
    if sensor_id is None:
        return "<p>No sensors registered.</p>"
    mine = [a for a in data.alerts if a.sensor_id == sensor_id]
    rows = [
        (
            _e(a.alert_id),
            _e(a.rule),
            _e(a.severity),
            _e(a.kind),
            _e(f"{a.started_at:%Y-%m-%d %H:%M}"),
            _e(a.state),
            _e(a.summary),
        )
        for a in mine[:10]
    ]
    faults = sum(lab.sensor_id == sensor_id for lab in data.labels)
    shown = f" (the {min(len(mine), 10)} newest below)" if mine else ""
    text = f"<p><b>{_e(sensor_id)}</b>: {faults} labelled faults, {len(mine)} alerts{shown}.</p>"
    plot = _img(
        one_sensor(sensor_id, data.readings, data.scores, data.labels, data.alerts, data.drift),
        f"readings and scores of {sensor_id}",
    )
    table = _table(("id", "rule", "severity", "kind", "started", "state", "summary"), rows, {0})
    return text + plot + (table if rows else "")


def _models(data: ReportData) -> str:
    from sensorguard.report.figures import model_comparison

    if not data.versions:
        return "<p>No registered models: run `sensorguard train` or the demo.</p>"
    rows = [
        (
            _e(v["group"]),
            _e(v["version"]),
            _e(v["aliases"]),
            _e(v["detector"]),
            _e(v["validation_status"]),
            _num(v["pr_auc"]),
            _num(v["f1"]),
            _num(v["event_recall"]),
            _num(v["false_alarms_per_sensor_day"], ".1f"),
            _e(v["trigger_reason"]),
        )
        for v in data.versions
    ]
    header = (
        "group",
        "version",
        "aliases",
        "detector",
        "gate",
        "PR-AUC",
        "F1",
        "event recall",
        "FA/day",
        "trigger",
    )
    plot = _img(model_comparison(data.versions), "model comparison")
    return plot + _table(header, rows, {1, 5, 6, 7, 8})


def _link(report: Path | None, here: Path) -> str:
    if report is None:
        return "<span class='dim'>no file</span>"
    href = Path(os.path.relpath(report, here.parent)).as_posix()
    return f"<a class='drift-report' href='{_e(href)}'>{_e(report.name)}</a>"


def _drift(data: ReportData, here: Path) -> str:
    from sensorguard.report.figures import drift_features

    if not data.drift:
        return "<p>No drift checks yet: `sensorguard drift check`.</p>"
    rows = [
        (
            _e(d.group),
            _e(f"{d.window_start:%m-%d %H:%M} - {d.window_end:%m-%d %H:%M}"),
            _e(f"v{d.champion_version}"),
            "<span class='yes'>yes</span>" if d.drifted else "no",
            _num(d.drifted_share, ".0%"),
            _num(d.score_shift),
            _e("; ".join(d.reasons) or "within the policy"),
            _link(d.report, here),
        )
        for d in data.drift
    ]
    header = (
        "group",
        "window (UTC)",
        "champion",
        "drifted",
        "drifted features",
        "score shift",
        "why",
        "Evidently report",
    )
    latest: dict[str, DriftRow] = {d.group: d for d in data.drift if d.features}
    plots = "".join(
        _img(drift_features(d), f"drift of {g}") for g, d in sorted(latest.items()) if d.drifted
    )
    return _table(header, rows, {4, 5}) + plots


def render(data: ReportData, here: Path) -> str:
    """The page; `here` is where it will be written (drift links are relative to it)."""
    bodies = {
        "fleet": _fleet(data),
        "sensor": _sensor(data),
        "models": _models(data),
        "drift": _drift(data, here),
    }
    nav = "".join(f"<a href='#{key}'>{_e(title)}</a>" for key, title in SECTIONS)
    sections = "".join(
        f"<section id='{key}'><h2>{_e(title)}</h2>{bodies[key]}</section>"
        for key, title in SECTIONS
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>SensorGuard demo report</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>SensorGuard demo report</h1>"
        f"<p class='dim'>{_e(data.data_dir)}: {data.start:%Y-%m-%d %H:%M} to "
        f"{data.end:%Y-%m-%d %H:%M} UTC</p>"
        f"<nav>{nav}</nav>"
        f"<section id='summary'><h2>Summary</h2>{_summary(data)}</section>"
        f"{sections}</body></html>"
    )


def build_report(
    settings: Settings,
    output: Path | None = None,
    *,
    days: float = 14.0,
    end: datetime | None = None,
) -> Path:
    """Write the report of the `days` before `end` (default: now); default file: report_path."""
    from sensorguard.report.data import load_report_data, report_path

    path = (output or report_path(settings)).absolute()
    data = load_report_data(settings, days=days, end=end)
    page = render(data, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
