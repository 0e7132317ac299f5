"""Alert state in the metadata database: open -> acknowledged -> resolved, with history.

At most one alert per (rule, sensor) is not resolved: a trigger finds it and updates it, or
opens one, inside one write transaction (SQLite's write lock serialises every process on the
file), and a partial unique index refuses a second one should anything get past that. State
lives in the database, so it survives restarts of whatever evaluates the rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sensorguard.alerting.records import (
    VERDICTS,
    Alert,
    AlertEvent,
    Severity,
    Verdict,
    VerdictLabel,
)
from sensorguard.errors import NotFound, ValidationFailed
from sensorguard.schemas import utc_now
from sensorguard.settings import Settings, sqlite_path
from sensorguard.sqlite_db import SqliteDatabase

_ACTIVE = "state != 'resolved'"


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _alert(row: Mapping[str, Any]) -> Alert:
    return Alert(
        alert_id=row["alert_id"],
        rule=row["rule"],
        sensor_id=row["sensor_id"],
        site=row["site"],
        severity=row["severity"],
        state=row["state"],
        kind=row["kind"],
        score=row["score"],
        contributions=json.loads(row["contributions"]),
        summary=row["summary"],
        started_at=datetime.fromisoformat(row["started_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None,
        silence_id=row["silence_id"],
    )


def _label(row: Mapping[str, Any]) -> VerdictLabel:
    return VerdictLabel(
        label_id=row["label_id"],
        alert_id=row["alert_id"],
        sensor_id=row["sensor_id"],
        rule=row["rule"],
        kind=row["kind"],
        start=datetime.fromisoformat(row["window_start"]),
        end=datetime.fromisoformat(row["window_end"]),
        verdict=row["verdict"],
        actor=row["actor"],
        at=datetime.fromisoformat(row["at"]),
    )


def check_verdict(verdict: str | None) -> Verdict | None:
    """A verdict from a CLI option or request body, refused naming the allowed ones."""
    if verdict is None or verdict == "":
        return None
    if verdict not in VERDICTS:
        raise ValidationFailed("verdict", verdict, f"one of {', '.join(VERDICTS)}")
    return verdict  # type: ignore[return-value]  # checked against the Literal's values


class VerdictLabels:
    """Operators' verdicts on alerts (the alert_labels table): written with the alert's
    acknowledgement or resolution, read by training and the feedback trigger."""

    def __init__(self, db: SqliteDatabase, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def add(self, conn: Any, alert: Mapping[str, Any], verdict: Verdict, actor: str) -> int:
        """Store a verdict on the alert row ``alert`` (as it is after the change), and its
        audit entry, in the caller's transaction."""
        from sensorguard.metadata.store import write_audit

        now = _ts(self._clock())
        end = alert["resolved_at"] or now
        cursor = conn.execute(
            "INSERT INTO alert_labels (alert_id, sensor_id, rule, kind, window_start, "
            "window_end, verdict, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                alert["alert_id"],
                alert["sensor_id"],
                alert["rule"],
                alert["kind"],
                alert["started_at"],
                end,
                verdict,
                actor,
                now,
            ),
        )
        label_id = int(cursor.lastrowid or 0)
        write_audit(
            conn,
            now,
            actor,
            "alert.verdict",
            f"alert/{alert['alert_id']}",
            {
                "label_id": label_id,
                "verdict": verdict,
                "sensor_id": alert["sensor_id"],
                "rule": alert["rule"],
                "window": f"{alert['started_at']}/{end}",
            },
        )
        return label_id

    def find(
        self,
        *,
        sensor_ids: Sequence[str] | None = None,
        verdict: Verdict | None = None,
        since: datetime | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100_000,
    ) -> list[VerdictLabel]:
        """Verdicts, oldest first: of these sensors, this verdict, given at or after ``since``,
        over windows overlapping [start, end)."""
        where: list[str] = ["1 = 1"]
        params: list[str] = []
        if sensor_ids is not None:
            where.append(f"sensor_id IN ({', '.join('?' * len(sensor_ids))})")
            params.extend(sensor_ids)
        if verdict is not None:
            where.append("verdict = ?")
            params.append(verdict)
        if since is not None:
            where.append("at >= ?")
            params.append(_ts(since))
        if start is not None:
            where.append("window_end > ?")
            params.append(_ts(start))
        if end is not None:
            where.append("window_start < ?")
            params.append(_ts(end))
        rows = self._db.read(
            f"SELECT * FROM alert_labels WHERE {' AND '.join(where)} ORDER BY at, label_id LIMIT ?",
            [*params, max(0, limit)],
        )
        return [_label(r) for r in rows]


class AlertStore:
    """The alerts table of the metadata database (migrated by the metadata store)."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        from sensorguard.metadata.store import MetadataStore

        MetadataStore(path).close()  # creates or migrates the schema, alerts included
        self._db = SqliteDatabase(path, what="alert store", rows_as_dicts=True)
        self._clock = clock
        self.labels = VerdictLabels(self._db, clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertStore:
        return cls(sqlite_path(settings.metadata_url))

    def close(self) -> None:
        self._db.close()

    def _event(
        self, conn: Any, alert_id: int, actor: str, event: str, detail: Mapping[str, Any]
    ) -> None:
        conn.execute(
            "INSERT INTO alert_events (alert_id, at, actor, event, detail) VALUES (?, ?, ?, ?, ?)",
            (alert_id, _ts(self._clock()), actor, event, json.dumps(dict(detail), default=str)),
        )

    def trigger(
        self,
        rule: str,
        sensor_id: str,
        *,
        site: str = "",
        severity: Severity = "warning",
        at: datetime | None = None,
        score: float | None = None,
        kind: str = "",
        contributions: Mapping[str, float] | None = None,
        summary: str = "",
        actor: str = "engine",
    ) -> tuple[Alert, bool]:
        """The rule's active alert on the sensor, opened now if there is none: (alert, opened).

        A repeated trigger updates the active alert (its highest score and that score's
        contributions, the latest summary) instead of opening another.
        """
        now = _ts(self._clock())
        started = _ts(at) if at is not None else now
        with self._db.write() as conn:
            row = conn.execute(
                f"SELECT * FROM alerts WHERE rule = ? AND sensor_id = ? AND {_ACTIVE}",
                (rule, sensor_id),
            ).fetchone()
            if row is not None:
                higher = score is not None and (row["score"] is None or score > row["score"])
                conn.execute(
                    "UPDATE alerts SET updated_at = ?, summary = ?, kind = ?, score = ?, "
                    "contributions = ? WHERE alert_id = ?",
                    (
                        now,
                        summary or row["summary"],
                        row["kind"] or kind,
                        score if higher else row["score"],
                        json.dumps(dict(contributions or {})) if higher else row["contributions"],
                        row["alert_id"],
                    ),
                )
                alert_id, opened = row["alert_id"], False
            else:
                cursor = conn.execute(
                    "INSERT INTO alerts (rule, sensor_id, site, severity, state, kind, score, "
                    "contributions, summary, started_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                    (
                        rule,
                        sensor_id,
                        site,
                        severity,
                        kind,
                        score,
                        json.dumps(dict(contributions or {})),
                        summary,
                        started,
                        now,
                    ),
                )
                alert_id, opened = int(cursor.lastrowid or 0), True
                self._event(conn, alert_id, actor, "opened", {"kind": kind, "score": score})
            fresh = conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return _alert(fresh), opened

    def _move(
        self,
        alert_id: int,
        actor: str,
        event: str,
        allowed_from: tuple[str, ...],
        sets: Mapping[str, Any],
        detail: Mapping[str, Any],
        verdict: Verdict | None = None,
    ) -> Alert:
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
            if row is None:
                raise NotFound("alert", str(alert_id))
            if row["state"] not in allowed_from:
                raise ValidationFailed(
                    f"alert {alert_id} state", row["state"], f"one of {', '.join(allowed_from)}"
                )
            assignments = "".join(f"{column} = ?, " for column in sets)
            conn.execute(
                f"UPDATE alerts SET {assignments}updated_at = ? WHERE alert_id = ?",
                (*sets.values(), _ts(self._clock()), alert_id),
            )
            fresh = conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
            if verdict is not None:
                label_id = self.labels.add(conn, fresh, verdict, actor)
                detail = {**detail, "verdict": verdict, "label_id": label_id}
            self._event(conn, alert_id, actor, event, detail)
        return _alert(fresh)

    def acknowledge(
        self,
        alert_id: int,
        actor: str,
        *,
        silence_id: str | None = None,
        verdict: Verdict | None = None,
    ) -> Alert:
        """An operator took it: notifications stop (the caller silences it in Alertmanager).

        A verdict is stored as a label over the alert's window so far (see VerdictLabel)."""
        return self._move(
            alert_id,
            actor,
            "acknowledged",
            ("open",),
            {"state": "acknowledged", "acknowledged_by": actor, "silence_id": silence_id},
            {"silence_id": silence_id},
            verdict,
        )

    def resolve(
        self, alert_id: int, actor: str, *, reason: str = "", verdict: Verdict | None = None
    ) -> Alert:
        """The condition cleared (engine) or an operator closed it, perhaps with a verdict."""
        return self._move(
            alert_id,
            actor,
            "resolved",
            ("open", "acknowledged"),
            {"state": "resolved", "resolved_at": _ts(self._clock())},
            {"reason": reason},
            verdict,
        )

    def judge(self, alert_id: int, actor: str, verdict: Verdict) -> Alert:
        """A verdict on an alert in any state: a resolved one is judged after the fact, over
        its whole window (the engine resolves most alerts before anyone looks)."""
        return self._move(
            alert_id,
            actor,
            "judged",
            ("open", "acknowledged", "resolved"),
            {},
            {},
            verdict,
        )

    def get(self, alert_id: int) -> Alert:
        rows = self._db.read("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,))
        if not rows:
            raise NotFound("alert", str(alert_id))
        return _alert(rows[0])

    def active(self, *, rule: str | None = None, sensor_id: str | None = None) -> list[Alert]:
        where, params = [_ACTIVE], []
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if sensor_id is not None:
            where.append("sensor_id = ?")
            params.append(sensor_id)
        rows = self._db.read(
            f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY started_at", params
        )
        return [_alert(r) for r in rows]

    def history(
        self,
        *,
        sensor_id: str | None = None,
        site: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts (any state) by sensor, site and start time, newest first."""
        where, params = ["1 = 1"], []
        for column, value in (("sensor_id", sensor_id), ("site", site)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if start is not None:
            where.append("started_at >= ?")
            params.append(_ts(start))
        if end is not None:
            where.append("started_at < ?")
            params.append(_ts(end))
        rows = self._db.read(
            f"SELECT * FROM alerts WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC, alert_id DESC LIMIT ?",
            [*params, max(0, limit)],
        )
        return [_alert(r) for r in rows]

    def last_event_id(self) -> int:
        """Where a reader of events from now on starts (:meth:`events_after`)."""
        rows = self._db.read("SELECT COALESCE(MAX(id), 0) AS last FROM alert_events")
        return int(rows[0]["last"])

    def events_after(self, event_id: int, *, limit: int = 500) -> list[tuple[AlertEvent, Alert]]:
        """Lifecycle events stored after ``event_id``, oldest first, each with its alert as it
        is now: what the live feed follows (any process may have written them)."""
        rows = self._db.read(
            "SELECT e.id AS event_id, e.at AS event_at, e.actor AS event_actor, "
            "e.event AS event_name, e.detail AS event_detail, a.* "
            "FROM alert_events e JOIN alerts a ON a.alert_id = e.alert_id "
            "WHERE e.id > ? ORDER BY e.id LIMIT ?",
            (event_id, limit),
        )
        return [
            (
                AlertEvent(
                    event_id=r["event_id"],
                    alert_id=r["alert_id"],
                    at=datetime.fromisoformat(r["event_at"]),
                    actor=r["event_actor"],
                    event=r["event_name"],
                    detail=json.loads(r["event_detail"]),
                ),
                _alert(r),
            )
            for r in rows
        ]

    def events(self, alert_id: int) -> list[dict[str, Any]]:
        rows = self._db.read(
            "SELECT at, actor, event, detail FROM alert_events WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]
