"""The SQLite metadata store: sensor registry, model specs, users and API keys, alert rules, audit."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from pydantic import ValidationError

from sensorguard.errors import (
    AlreadyExists,
    NotFound,
    UnsupportedURL,
    ValidationFailed,
)
from sensorguard.metadata import apikeys
from sensorguard.metadata.migrations import migrate
from sensorguard.metadata.records import (
    AlertRuleRecord,
    ApiKeyInfo,
    AuditEntry,
    BulkOutcome,
    KeyCheck,
    ModelSpecRecord,
    PepperUsage,
    Principal,
    User,
)
from sensorguard.metadata.roles import ROLES, Role
from sensorguard.schemas import BUILTIN_SENSOR_TYPES, Sensor, SensorType, utc_now
from sensorguard.settings import sqlite_path
from sensorguard.sqlite_db import SqliteDatabase
from sensorguard.validation import validation_failed_from

# Names of users, rules and specs end up in URLs, log lines and audit subjects: keep them plain.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
_NAME_EXPECTED = "1-128 letters, digits or _.:@- starting with a letter or digit"
# Recording every use of a key would turn each ingest request into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)

SensorChange = Literal["added", "updated", "unchanged"]


def _ts(moment: datetime) -> str:
    """UTC, millisecond ISO text: sorts lexically in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _json(value: Any, field: str) -> str:
    """Canonical JSON (sorted keys) so that equal content compares equal as text."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValidationFailed(
            field, type(value).__name__, f"JSON-serialisable data (finite numbers only): {err}"
        ) from None


def _check_name(field: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValidationFailed(field, value, _NAME_EXPECTED)
    return value


def _sensor(row: sqlite3.Row) -> Sensor:
    return Sensor(
        sensor_id=row["sensor_id"],
        sensor_type=row["sensor_type"],
        site=row["site"],
        location=row["location"],
        tags=json.loads(row["tags"]),
        installed_on=date.fromisoformat(row["installed_on"]) if row["installed_on"] else None,
    )


def _sensor_type(name: str, description: str, channels: str) -> SensorType:
    return SensorType(name=name, description=description, channels=json.loads(channels))


def _user(row: sqlite3.Row) -> User:
    return User(
        username=row["username"],
        role=row["role"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _api_key(row: sqlite3.Row) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row["key_id"],
        username=row["username"],
        name=row["name"],
        created_at=datetime.fromisoformat(row["created_at"]),
        last_used_at=_dt(row["last_used_at"]),
        revoked_at=_dt(row["revoked_at"]),
        sensors=tuple(json.loads(row["sensors"])),
        site=row["site"],
    )


def _model_spec(row: sqlite3.Row) -> ModelSpecRecord:
    return ModelSpecRecord(
        name=row["name"],
        sensor_group=row["sensor_group"],
        spec=json.loads(row["spec"]),
        version=row["version"],
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _alert_rule(row: sqlite3.Row) -> AlertRuleRecord:
    return AlertRuleRecord(
        name=row["name"],
        definition=json.loads(row["definition"]),
        enabled=bool(row["enabled"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def write_audit(
    conn: sqlite3.Connection,
    at: str,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any] | None,
) -> None:
    """Append one audit entry inside the caller's write transaction (the change's own), so a
    change and its entry are stored together or not at all, whichever store makes it."""
    # A key pasted into a free-text field must not become permanent history.
    text = apikeys.redact_keys(json.dumps(dict(detail or {}), sort_keys=True, default=str))
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (at, actor, action, subject, text),
    )


class MetadataStore:
    """One SQLite file of metadata, shared by the ingest server, the writer and the CLI.

    WAL mode lets readers in other processes proceed while one writes; writes take the lock up
    front (BEGIN IMMEDIATE) and wait up to busy_timeout_s for it. Inside a process the one
    connection is guarded by a lock, so FastAPI worker threads may share a store.
    Every mutating method writes its audit entry in the same transaction as the change.
    """

    def __init__(
        self,
        path: Path,
        *,
        pepper: str | apikeys.Peppers | None = None,
        busy_timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        # A bare string is the one pepper of a store that never rotated: version 1.
        self._peppers = apikeys.Peppers.single(pepper) if isinstance(pepper, str) else pepper
        self._clock = clock
        self._db = SqliteDatabase(
            path,
            what="metadata database",
            busy_timeout_s=busy_timeout_s,
            rows_as_dicts=True,
            foreign_keys=True,
        )
        try:
            with self._db.lock, self._db.errors():
                migrate(self._db.conn, path)
        except BaseException:
            self._db.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def peppers(self) -> apikeys.Peppers:
        if self._peppers is None:
            from sensorguard.settings import get_settings

            self._peppers = apikeys.Peppers.of_settings(get_settings())
        return self._peppers

    @property
    def pepper(self) -> str:
        """The current pepper, which new keys are hashed with."""
        return self.peppers.current

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction holding the database's write lock from the start."""
        return self._db.write()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._db.read(sql, params)

    def _now(self) -> str:
        return _ts(self._clock())

    def _audit(
        self,
        conn: sqlite3.Connection,
        actor: str,
        action: str,
        subject: str,
        detail: Mapping[str, Any] | None,
    ) -> None:
        write_audit(conn, self._now(), actor, action, subject, detail)

    # -- audit log --------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, subject: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Append one entry to the audit log (for changes made outside this store)."""
        with self._write() as conn:
            self._audit(conn, actor, action, subject, detail)

    def audit_log(
        self, limit: int = 100, *, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntry]:
        """The newest entries first, optionally only one actor's or one action's."""
        where, params = [], []
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT * FROM audit_log {clause} ORDER BY id DESC LIMIT ?", [*params, max(0, limit)]
        )
        return [
            AuditEntry(
                id=r["id"],
                at=datetime.fromisoformat(r["at"]),
                actor=r["actor"],
                action=r["action"],
                subject=r["subject"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    # -- sensor types -----------------------------------------------------------------------

    def list_sensor_types(self) -> list[SensorType]:
        rows = self._read("SELECT name, description, channels FROM sensor_types ORDER BY name")
        return [_sensor_type(*r) for r in rows]

    def get_sensor_type(self, name: str) -> SensorType:
        rows = self._read(
            "SELECT name, description, channels FROM sensor_types WHERE name = ?", [name]
        )
        if not rows:
            known = [r[0] for r in self._read("SELECT name FROM sensor_types")]
            raise NotFound("sensor type", name, known=known)
        return _sensor_type(*rows[0])

    def add_sensor_type(
        self, sensor_type: SensorType, *, replace: bool = False, actor: str = "cli"
    ) -> SensorType:
        """Register a sensor type; AlreadyExists unless replace is set."""
        channels = _json({k: v.model_dump() for k, v in sensor_type.channels.items()}, "channels")
        now = self._now()
        with self._write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM sensor_types WHERE name = ?", (sensor_type.name,)
            ).fetchone()
            if exists and not replace:
                raise AlreadyExists("sensor type", sensor_type.name)
            conn.execute(
                """INSERT INTO sensor_types (name, description, channels, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                       channels = excluded.channels, updated_at = excluded.updated_at""",
                (sensor_type.name, sensor_type.description, channels, now, now),
            )
            self._audit(
                conn,
                actor,
                "sensor_type.update" if exists else "sensor_type.add",
                sensor_type.name,
                sensor_type.model_dump(mode="json", exclude={"name"}),
            )
        return sensor_type

    def seed_builtin_types(self, *, actor: str = "system") -> list[str]:
        """Register the built-in sensor types that are missing; returns the names added."""
        existing = {r[0] for r in self._read("SELECT name FROM sensor_types")}
        added = []
        for stype in BUILTIN_SENSOR_TYPES:
            if stype.name in existing:
                continue
            try:
                self.add_sensor_type(stype, actor=actor)
            except AlreadyExists:
                continue  # another process seeded it meanwhile
            added.append(stype.name)
        return added

    # -- sensors ----------------------------------------------------------------------------

    def _sensor_or_none(self, conn: sqlite3.Connection, sensor_id: str) -> Sensor | None:
        row = conn.execute("SELECT * FROM sensors WHERE sensor_id = ?", (sensor_id,)).fetchone()
        return None if row is None else _sensor(row)

    def _save_sensor(
        self,
        conn: sqlite3.Connection,
        sensor: Sensor,
        current: Sensor | None,
        known_types: set[str],
        actor: str,
    ) -> SensorChange:
        if sensor.sensor_type not in known_types:
            raise NotFound(
                "sensor type",
                sensor.sensor_type,
                known=known_types,
                context=f"sensor {sensor.sensor_id}: ",
            )
        if current == sensor:
            return "unchanged"
        now = self._now()
        values = (
            sensor.sensor_type,
            sensor.site,
            sensor.location,
            _json(sensor.tags, "tags"),
            sensor.installed_on.isoformat() if sensor.installed_on else None,
            now,
            sensor.sensor_id,
        )
        if current is None:
            conn.execute(
                """INSERT INTO sensors (sensor_type, site, location, tags, installed_on,
                                        updated_at, sensor_id, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (*values, now),
            )
            detail = sensor.model_dump(mode="json", exclude={"sensor_id"})
            self._audit(conn, actor, "sensor.add", sensor.sensor_id, detail)
            return "added"
        conn.execute(
            """UPDATE sensors SET sensor_type = ?, site = ?, location = ?, tags = ?,
                                  installed_on = ?, updated_at = ?
               WHERE sensor_id = ?""",
            values,
        )
        before = current.model_dump(mode="json")
        after = sensor.model_dump(mode="json")
        changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        self._audit(conn, actor, "sensor.update", sensor.sensor_id, changed)
        return "updated"

    def add_sensors(
        self, sensors: Iterable[Sensor], *, upsert: bool = False, actor: str = "cli"
    ) -> BulkOutcome:
        """Register many sensors in one transaction: all of them, or none on the first error.

        Without upsert a sensor id that exists raises AlreadyExists; with it the stored sensor
        is updated (and left alone, unaudited, when nothing changed), so re-running a fleet
        registration is cheap and quiet.
        """
        outcome = BulkOutcome()
        with self._write() as conn:
            known_types = {r[0] for r in conn.execute("SELECT name FROM sensor_types")}
            for sensor in sensors:
                current = self._sensor_or_none(conn, sensor.sensor_id)
                if current is not None and not upsert:
                    raise AlreadyExists("sensor", sensor.sensor_id)
                change = self._save_sensor(conn, sensor, current, known_types, actor)
                getattr(outcome, change).append(sensor.sensor_id)
        return outcome

    def add_sensor(self, sensor: Sensor, *, actor: str = "cli") -> Sensor:
        """Register one sensor; AlreadyExists if its id is taken, NotFound for an unknown type."""
        self.add_sensors([sensor], actor=actor)
        return sensor

    def get_sensor(self, sensor_id: str) -> Sensor:
        rows = self._read("SELECT * FROM sensors WHERE sensor_id = ?", [sensor_id])
        if not rows:
            known = [r[0] for r in self._read("SELECT sensor_id FROM sensors")]
            raise NotFound("sensor", sensor_id, known=known)
        return _sensor(rows[0])

    def list_sensors(
        self, *, site: str | None = None, sensor_type: str | None = None
    ) -> list[Sensor]:
        where, params = [], []
        if site is not None:
            where.append("site = ?")
            params.append(site)
        if sensor_type is not None:
            where.append("sensor_type = ?")
            params.append(sensor_type)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [
            _sensor(r)
            for r in self._read(f"SELECT * FROM sensors {clause} ORDER BY sensor_id", params)
        ]

    def update_sensor(self, sensor_id: str, /, *, actor: str = "cli", **changes: Any) -> Sensor:
        """Change some fields of a sensor (sensor_type, site, location, tags, installed_on)."""
        if changes.get("sensor_id", sensor_id) != sensor_id:
            raise ValidationFailed(
                "sensor_id",
                changes["sensor_id"],
                f"{sensor_id!r} (ids cannot be renamed: remove the sensor and add it again)",
            )
        with self._write() as conn:
            current = self._sensor_or_none(conn, sensor_id)
            if current is None:
                known = [r[0] for r in conn.execute("SELECT sensor_id FROM sensors")]
                raise NotFound("sensor", sensor_id, known=known)
            raw = {**current.model_dump(), **changes}
            try:
                updated = Sensor.model_validate(raw)
            except ValidationError as err:
                raise validation_failed_from(err, raw, what="a sensor") from None
            known_types = {r[0] for r in conn.execute("SELECT name FROM sensor_types")}
            self._save_sensor(conn, updated, current, known_types, actor)
        return updated

    def remove_sensor(self, sensor_id: str, *, actor: str = "cli") -> Sensor:
        """Unregister a sensor (its stored readings stay in the time-series store)."""
        with self._write() as conn:
            current = self._sensor_or_none(conn, sensor_id)
            if current is None:
                known = [r[0] for r in conn.execute("SELECT sensor_id FROM sensors")]
                raise NotFound("sensor", sensor_id, known=known)
            conn.execute("DELETE FROM sensors WHERE sensor_id = ?", (sensor_id,))
            self._audit(
                conn,
                actor,
                "sensor.remove",
                sensor_id,
                current.model_dump(mode="json", exclude={"sensor_id"}),
            )
        return current

    def lookup(self, sensor_id: str) -> tuple[Sensor, SensorType] | None:
        """A sensor and its type, or None if unregistered (validation.SensorCatalog)."""
        rows = self._read(
            """SELECT s.*, t.description AS type_description, t.channels AS type_channels
               FROM sensors s JOIN sensor_types t ON t.name = s.sensor_type
               WHERE s.sensor_id = ?""",
            [sensor_id],
        )
        if not rows:
            return None
        row = rows[0]
        return _sensor(row), _sensor_type(
            row["sensor_type"], row["type_description"], row["type_channels"]
        )

    def sensors_at_site(self, site: str) -> list[str]:
        """Ids of the sensors at a site, sorted (for per-site range reads of the store)."""
        rows = self._read("SELECT sensor_id FROM sensors WHERE site = ? ORDER BY sensor_id", [site])
        return [r[0] for r in rows]

    # -- model specs ------------------------------------------------------------------------

    def put_model_spec(
        self, name: str, sensor_group: str, spec: Mapping[str, Any], *, actor: str = "cli"
    ) -> ModelSpecRecord:
        """Store a (validated) model spec; version goes up by one whenever its content changes."""
        _check_name("model spec name", name)
        _check_name("sensor_group", sensor_group)
        text = _json(dict(spec), f"model spec {name}")
        with self._write() as conn:
            row = conn.execute("SELECT * FROM model_specs WHERE name = ?", (name,)).fetchone()
            if row is not None and (row["sensor_group"], row["spec"]) == (sensor_group, text):
                return _model_spec(row)
            version = 1 if row is None else row["version"] + 1
            conn.execute(
                """INSERT INTO model_specs (name, sensor_group, spec, version, updated_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET sensor_group = excluded.sensor_group,
                       spec = excluded.spec, version = excluded.version,
                       updated_at = excluded.updated_at""",
                (name, sensor_group, text, version, self._now()),
            )
            self._audit(
                conn,
                actor,
                "model_spec.put",
                name,
                {"sensor_group": sensor_group, "version": version},
            )
            stored = conn.execute("SELECT * FROM model_specs WHERE name = ?", (name,)).fetchone()
        return _model_spec(stored)

    def get_model_spec(self, name: str) -> ModelSpecRecord:
        rows = self._read("SELECT * FROM model_specs WHERE name = ?", [name])
        if not rows:
            raise NotFound(
                "model spec", name, known=[r[0] for r in self._read("SELECT name FROM model_specs")]
            )
        return _model_spec(rows[0])

    def list_model_specs(self, *, sensor_group: str | None = None) -> list[ModelSpecRecord]:
        if sensor_group is None:
            rows = self._read("SELECT * FROM model_specs ORDER BY name")
        else:
            rows = self._read(
                "SELECT * FROM model_specs WHERE sensor_group = ? ORDER BY name", [sensor_group]
            )
        return [_model_spec(r) for r in rows]

    # -- users and API keys -----------------------------------------------------------------

    def add_user(self, username: str, role: str, *, actor: str = "cli") -> User:
        _check_name("username", username)
        if role not in ROLES:
            raise ValidationFailed("role", role, f"one of {', '.join(ROLES)}")
        now = self._now()
        user = User(
            username=username, role=cast(Role, role), created_at=datetime.fromisoformat(now)
        )
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise AlreadyExists("user", username)
            conn.execute(
                "INSERT INTO users (username, role, created_at) VALUES (?, ?, ?)",
                (username, role, now),
            )
            self._audit(conn, actor, "user.add", username, {"role": role})
        return user

    def get_user(self, username: str) -> User:
        rows = self._read("SELECT * FROM users WHERE username = ?", [username])
        if not rows:
            raise NotFound(
                "user", username, known=[r[0] for r in self._read("SELECT username FROM users")]
            )
        return _user(rows[0])

    def list_users(self) -> list[User]:
        return [_user(r) for r in self._read("SELECT * FROM users ORDER BY username")]

    def create_api_key(
        self,
        username: str,
        name: str = "default",
        *,
        sensors: Iterable[str] = (),
        site: str | None = None,
        actor: str = "cli",
    ) -> tuple[str, str]:
        """A new key for a user: (key_id, plaintext). The plaintext cannot be recovered later.

        sensors / site bind the key: it may then send readings of those sensors and of every
        sensor at that site only. A device key needs a binding to ingest anything.
        """
        if not name.strip() or len(name) > 64 or not name.isprintable():
            raise ValidationFailed("name", name, "a printable label of 1-64 characters")
        bound = sorted(set(sensors))
        key_id, secret, plaintext = apikeys.new_key()
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                known = [r[0] for r in conn.execute("SELECT username FROM users")]
                raise NotFound("user", username, known=known)
            # Bindings must name what is registered: a typo would mint a key that is refused
            # on every batch, and the refusal would not say why the binding is wrong.
            registered = {r[0]: r[1] for r in conn.execute("SELECT sensor_id, site FROM sensors")}
            for sensor_id in bound:
                if sensor_id not in registered:
                    raise NotFound(
                        "sensor", sensor_id, known=registered.keys(), context="API key binding: "
                    )
            if site is not None and site not in registered.values():
                raise NotFound(
                    "site", site, known=set(registered.values()), context="API key binding: "
                )
            peppers = self.peppers
            conn.execute(
                """INSERT INTO api_keys (key_id, username, name, secret_hash, created_at,
                                         sensors, site, pepper_version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    key_id,
                    username,
                    name,
                    apikeys.hash_secret(peppers.current, secret),
                    self._now(),
                    _json(bound, "sensors"),
                    site,
                    peppers.current_version,
                ),
            )
            detail: dict[str, Any] = {"key_id": key_id, "name": name}
            if bound:
                detail["sensors"] = bound
            if site is not None:
                detail["site"] = site
            self._audit(conn, actor, "api_key.create", username, detail)
        return key_id, plaintext

    def check_api_key(self, plaintext: str) -> KeyCheck:
        """Who holds this key, or why it is refused (malformed, unknown, wrong secret, revoked,
        or hashed with a pepper version this server does not hold).

        A key that matches under a previous pepper is re-hashed with the current one, so a
        rotation completes as keys are used (`sensorguard users pepper-status` counts the rest).
        """
        parsed = apikeys.parse_key(plaintext)
        if parsed is None:
            return KeyCheck(refusal="malformed")
        key_id, secret = parsed
        rows = self._read(
            """SELECT k.secret_hash, k.revoked_at, k.last_used_at, k.sensors, k.site,
                      k.pepper_version, u.username, u.role
               FROM api_keys k JOIN users u ON u.username = k.username
               WHERE k.key_id = ?""",
            [key_id],
        )
        if not rows:
            return KeyCheck(refusal="unknown", key_id=key_id)
        row = rows[0]
        version = int(row["pepper_version"])
        peppers = self.peppers
        pepper = peppers.get(version)
        if pepper is None:
            return KeyCheck(refusal="pepper_unknown", key_id=key_id, pepper_version=version)
        if not apikeys.secret_matches(pepper, secret, row["secret_hash"]):
            return KeyCheck(refusal="wrong_secret", key_id=key_id)
        if row["revoked_at"] is not None:
            return KeyCheck(refusal="revoked", key_id=key_id, owner=row["username"])
        now = self._clock()
        last = _dt(row["last_used_at"])
        if version != peppers.current_version:
            self._rehash(key_id, secret, version, row["username"], now)
        elif last is None or now - last >= _LAST_USED_RESOLUTION:
            with self._write() as conn:
                conn.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (_ts(now), key_id)
                )
        principal = Principal(
            username=row["username"],
            role=row["role"],
            key_id=key_id,
            sensors=tuple(json.loads(row["sensors"])),
            site=row["site"],
        )
        return KeyCheck(principal=principal, key_id=key_id, owner=principal.username)

    def _rehash(self, key_id: str, secret: str, old: int, owner: str, now: datetime) -> None:
        peppers = self.peppers
        with self._write() as conn:
            # Conditional on the old version: of two processes re-hashing at once, one writes.
            changed = conn.execute(
                """UPDATE api_keys SET secret_hash = ?, pepper_version = ?, last_used_at = ?
                   WHERE key_id = ? AND pepper_version = ?""",
                (
                    apikeys.hash_secret(peppers.current, secret),
                    peppers.current_version,
                    _ts(now),
                    key_id,
                    old,
                ),
            ).rowcount
            if changed:
                self._audit(
                    conn,
                    "system",
                    "api_key.rehash",
                    owner,
                    {"key_id": key_id, "from_version": old, "to_version": peppers.current_version},
                )

    def pepper_usage(self) -> list[PepperUsage]:
        """Keys per pepper version (the current one, known previous ones and unknown ones)."""
        peppers = self.peppers
        rows = self._read(
            """SELECT pepper_version,
                      SUM(revoked_at IS NULL) AS active, SUM(revoked_at IS NOT NULL) AS revoked
               FROM api_keys GROUP BY pepper_version"""
        )
        counts = {int(r["pepper_version"]): (int(r["active"]), int(r["revoked"])) for r in rows}
        usage = []
        for version in sorted(set(counts) | set(peppers.by_version)):
            active, revoked = counts.get(version, (0, 0))
            state: Literal["current", "previous", "unknown"] = (
                "current"
                if version == peppers.current_version
                else "previous"
                if version in peppers.by_version
                else "unknown"
            )
            usage.append(
                PepperUsage(version=version, state=state, active_keys=active, revoked_keys=revoked)
            )
        return usage

    def verify_api_key(self, plaintext: str) -> Principal | None:
        """Who holds this key, or None if it is malformed, unknown, wrong or revoked."""
        return self.check_api_key(plaintext).principal

    def revoke_api_key(self, key_id: str, *, actor: str = "cli") -> ApiKeyInfo:
        """Revoke a key for good; revoking a revoked key changes nothing."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                known = [r[0] for r in conn.execute("SELECT key_id FROM api_keys")]
                raise NotFound("API key", key_id, known=known)
            if row["revoked_at"] is None:
                conn.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (self._now(), key_id)
                )
                self._audit(conn, actor, "api_key.revoke", row["username"], {"key_id": key_id})
                row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _api_key(row)

    def list_api_keys(self, username: str | None = None) -> list[ApiKeyInfo]:
        """Keys (revoked ones too), oldest first; never their secrets or hashes."""
        columns = "key_id, username, name, created_at, last_used_at, revoked_at, sensors, site"
        if username is None:
            rows = self._read(f"SELECT {columns} FROM api_keys ORDER BY created_at, key_id")
        else:
            self.get_user(username)  # unknown user: NotFound rather than a silent empty list
            rows = self._read(
                f"SELECT {columns} FROM api_keys WHERE username = ? ORDER BY created_at, key_id",
                [username],
            )
        return [_api_key(r) for r in rows]

    # -- alert rules ------------------------------------------------------------------------

    def put_alert_rule(
        self,
        name: str,
        definition: Mapping[str, Any],
        *,
        enabled: bool | None = None,
        actor: str = "cli",
    ) -> AlertRuleRecord:
        """Create or replace a rule; enabled=None keeps a stored rule's state (new rules: on)."""
        _check_name("alert rule name", name)
        text = _json(dict(definition), f"alert rule {name}")
        with self._write() as conn:
            row = conn.execute("SELECT enabled FROM alert_rules WHERE name = ?", (name,)).fetchone()
            state = enabled if enabled is not None else (True if row is None else bool(row[0]))
            conn.execute(
                """INSERT INTO alert_rules (name, definition, enabled, updated_at)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,
                       enabled = excluded.enabled, updated_at = excluded.updated_at""",
                (name, text, int(state), self._now()),
            )
            self._audit(conn, actor, "alert_rule.put", name, {"enabled": state})
            stored = conn.execute("SELECT * FROM alert_rules WHERE name = ?", (name,)).fetchone()
        return _alert_rule(stored)

    def get_alert_rule(self, name: str) -> AlertRuleRecord:
        rows = self._read("SELECT * FROM alert_rules WHERE name = ?", [name])
        if not rows:
            raise NotFound(
                "alert rule", name, known=[r[0] for r in self._read("SELECT name FROM alert_rules")]
            )
        return _alert_rule(rows[0])

    def list_alert_rules(self, *, enabled_only: bool = False) -> list[AlertRuleRecord]:
        clause = "WHERE enabled = 1" if enabled_only else ""
        return [
            _alert_rule(r) for r in self._read(f"SELECT * FROM alert_rules {clause} ORDER BY name")
        ]

    def _set_rule_enabled(self, name: str, enabled: bool, actor: str) -> AlertRuleRecord:
        with self._write() as conn:
            row = conn.execute("SELECT * FROM alert_rules WHERE name = ?", (name,)).fetchone()
            if row is None:
                known = [r[0] for r in conn.execute("SELECT name FROM alert_rules")]
                raise NotFound("alert rule", name, known=known)
            if bool(row["enabled"]) != enabled:
                conn.execute(
                    "UPDATE alert_rules SET enabled = ?, updated_at = ? WHERE name = ?",
                    (int(enabled), self._now(), name),
                )
                action = "alert_rule.enable" if enabled else "alert_rule.disable"
                self._audit(conn, actor, action, name, None)
                row = conn.execute("SELECT * FROM alert_rules WHERE name = ?", (name,)).fetchone()
        return _alert_rule(row)

    def enable_alert_rule(self, name: str, *, actor: str = "cli") -> AlertRuleRecord:
        return self._set_rule_enabled(name, True, actor)

    def disable_alert_rule(self, name: str, *, actor: str = "cli") -> AlertRuleRecord:
        return self._set_rule_enabled(name, False, actor)


def open_metadata(url: str, *, pepper: str | apikeys.Peppers | None = None) -> MetadataStore:
    """Open (creating and migrating as needed) the metadata database a sqlite:///PATH URL names.

    pepper defaults to the peppers of get_settings(), read the first time a key is hashed.
    """
    if not url.startswith("sqlite:///"):
        raise UnsupportedURL("SENSORGUARD_METADATA_URL", url, ("sqlite",))
    return MetadataStore(sqlite_path(url), pepper=pepper)
