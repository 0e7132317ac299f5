"""Schema migrations of the metadata database, tracked with PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sensorguard.errors import ConfigError

# Append only: a step's position is its version number, and a released step never changes,
# because databases in the field have already recorded that they ran it.
Migration = tuple[str, ...]

MIGRATIONS: tuple[Migration, ...] = (
    # 1: the sensor registry the ingest validator reads.
    (
        """CREATE TABLE sensor_types (
            name        TEXT PRIMARY KEY,
            description TEXT NOT NULL DEFAULT '',
            channels    TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        )""",
        """CREATE TABLE sensors (
            sensor_id    TEXT PRIMARY KEY,
            sensor_type  TEXT NOT NULL REFERENCES sensor_types(name) ON DELETE RESTRICT,
            site         TEXT NOT NULL,
            location     TEXT NOT NULL DEFAULT '',
            tags         TEXT NOT NULL DEFAULT '{}',
            installed_on TEXT,
            created_at   TEXT NOT NULL,
            updated_at   TEXT NOT NULL
        )""",
        "CREATE INDEX sensors_by_site ON sensors(site)",
        "CREATE INDEX sensors_by_type ON sensors(sensor_type)",
    ),
    # 2: what the ML side stores: model specs and alert rules.
    (
        """CREATE TABLE model_specs (
            name         TEXT PRIMARY KEY,
            sensor_group TEXT NOT NULL,
            spec         TEXT NOT NULL,
            version      INTEGER NOT NULL,
            updated_at   TEXT NOT NULL
        )""",
        """CREATE TABLE alert_rules (
            name       TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            updated_at TEXT NOT NULL
        )""",
    ),
    # 3: access control and the audit trail.
    (
        """CREATE TABLE users (
            username   TEXT PRIMARY KEY,
            role       TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE api_keys (
            key_id       TEXT PRIMARY KEY,
            username     TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            secret_hash  TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at   TEXT
        )""",
        "CREATE INDEX api_keys_by_user ON api_keys(username)",
        """CREATE TABLE audit_log (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            at      TEXT NOT NULL,
            actor   TEXT NOT NULL,
            action  TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail  TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX audit_by_actor ON audit_log(actor, id)",
        "CREATE INDEX audit_by_action ON audit_log(action, id)",
        # Append-only is enforced by the database, so no code path can quietly rewrite history.
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    ),
    # 4: a key may be bound to sensors (a JSON list of ids) and/or a site, so a stolen device
    # key can only speak for the devices it was issued to. Existing keys stay unbound.
    (
        "ALTER TABLE api_keys ADD COLUMN sensors TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE api_keys ADD COLUMN site TEXT",
    ),
    # 5: alerts and their history. The partial unique index is what makes "one open alert per
    # (rule, sensor)" hold however many triggers, from however many processes, race.
    (
        """CREATE TABLE alerts (
            alert_id        INTEGER PRIMARY KEY AUTOINCREMENT,
            rule            TEXT NOT NULL,
            sensor_id       TEXT NOT NULL,
            site            TEXT NOT NULL DEFAULT '',
            severity        TEXT NOT NULL,
            state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
            kind            TEXT NOT NULL DEFAULT '',
            score           REAL,
            contributions   TEXT NOT NULL DEFAULT '{}',
            summary         TEXT NOT NULL DEFAULT '',
            started_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            acknowledged_by TEXT,
            resolved_at     TEXT,
            silence_id      TEXT
        )""",
        """CREATE UNIQUE INDEX alerts_one_active ON alerts(rule, sensor_id)
           WHERE state != 'resolved'""",
        "CREATE INDEX alerts_by_sensor ON alerts(sensor_id, started_at)",
        "CREATE INDEX alerts_by_site ON alerts(site, started_at)",
        """CREATE TABLE alert_events (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(alert_id),
            at       TEXT NOT NULL,
            actor    TEXT NOT NULL,
            event    TEXT NOT NULL,
            detail   TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX alert_events_by_alert ON alert_events(alert_id, id)",
    ),
    # 6: operators' verdicts on alerts, the labels training reads. The alert's sensor, rule,
    # kind and window are copied in: the label must say what was judged even if the alert
    # row changes later (a resolution extends its window; a later verdict is a new row).
    (
        """CREATE TABLE alert_labels (
            label_id  INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id  INTEGER NOT NULL REFERENCES alerts(alert_id),
            sensor_id TEXT NOT NULL,
            rule      TEXT NOT NULL,
            kind      TEXT NOT NULL DEFAULT '',
            window_start TEXT NOT NULL,
            window_end   TEXT NOT NULL,
            verdict   TEXT NOT NULL
                      CHECK (verdict IN ('real_fault', 'false_alarm', 'maintenance')),
            actor     TEXT NOT NULL,
            at        TEXT NOT NULL
        )""",
        "CREATE INDEX alert_labels_by_sensor ON alert_labels(sensor_id, window_start)",
        "CREATE INDEX alert_labels_by_verdict ON alert_labels(verdict, at)",
    ),
    # 7: the version of the pepper each key's hash was made with, so the pepper can be rotated
    # key by key. Every key before this step was hashed with the one pepper there was: 1.
    ("ALTER TABLE api_keys ADD COLUMN pepper_version INTEGER NOT NULL DEFAULT 1",),
)


def schema_version(conn: sqlite3.Connection) -> int:
    """The number of migrations the database has recorded as applied."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection,
    path: Path | str = "metadata database",
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply the steps the database has not run yet, each in its own transaction.

    Safe to run from several processes at once: each step takes the write lock first and
    re-reads the version under it, so a step another process just applied is skipped.
    Returns the resulting version. The connection must be in autocommit mode.
    """
    latest = len(migrations)
    for target in range(1, latest + 1):
        if schema_version(conn) >= target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current < target:
                for statement in migrations[target - 1]:
                    conn.execute(statement)
                # PRAGMA takes no parameters; target is an int we computed.
                conn.execute(f"PRAGMA user_version = {int(target)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # some errors make SQLite roll back by itself
                conn.execute("ROLLBACK")
            raise
    found = schema_version(conn)
    if found > latest:
        raise ConfigError(
            f"{path} has schema version {found}, but this SensorGuard knows versions up to "
            f"{latest}; upgrade SensorGuard (or point SENSORGUARD_METADATA_URL at another file)"
        )
    return found
