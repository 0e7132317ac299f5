"""The Cassandra store: readings and scores in (sensor_id, day) partitions, the same contract as SQLite.

Retention counts from a row's timestamp, as in the SQLite store: each write carries
`USING TTL` = what is left of SENSORGUARD_RETENTION_DAYS for that row (rows already past it are
not written), so the configured retention applies even to tables created with another
default_time_to_live, and a backfill of old readings expires when its data does.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, TypeVar

from cassandra import (
    ConsistencyLevel,
    DriverException,
    RequestValidationException,
    __version__,
    protocol,
)
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.concurrent import execute_concurrent
from cassandra.cython_deps import HAVE_CYTHON
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import BatchStatement, BatchType, PreparedStatement, Statement

from sensorguard.errors import BackendUnavailable, ConfigError, SensorGuardError
from sensorguard.schemas import Reading, Score, utc_now
from sensorguard.settings import Settings, get_settings
from sensorguard.store.base import TableStats, retention_cutoff, within_retention

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = 9042
_KEYSPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_HOST = re.compile(r"^[A-Za-z0-9._-]+$")
_DATACENTER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CREATE = re.compile(r"CREATE\s+(KEYSPACE|TABLE)\s+IF\s+NOT\s+EXISTS\s+([\w.]+)", re.IGNORECASE)
TABLES = ("readings", "scores", "shadow_scores")
_SCORE_TABLES = {False: "scores", True: "shadow_scores"}
# Columns added to the scores tables after their first release, with their CQL types.
_ADDED_SCORE_COLUMNS = (("kind", "text"), ("contributions", "frozen<map<text, double>>"))

# Rows of one partition go out as one unlogged batch: one request instead of dozens, applied
# atomically by the replica (measured here: ~5k rows/s one by one, 25-35k rows/s in batches).
# A batch stays under ~4 KiB of data, below Cassandra's batch_size_warn_threshold (5 KiB).
_BATCH_ROWS = 50
_BATCH_BYTES = 4096
_CONNECT_TIMEOUT_S = 10.0
_REQUEST_TIMEOUT_S = 20.0
_SCHEMA_FILE = "schema.cql"
# Cassandra's largest TTL (20 years); 0 would mean "never expires".
_MAX_TTL_S = 630_720_000
# `store stats` reads at most this many partition keys per table to find the oldest and newest
# day; past it the span shown is that of the partitions read (and says so).
_STATS_MAX_PARTITIONS = 100_000

_driver_logged = threading.Event()


@dataclass(frozen=True)
class CassandraURL:
    """What a cassandra://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE URL says."""

    contact_points: tuple[tuple[str, int], ...]
    keyspace: str

    @classmethod
    def parse(cls, url: str) -> CassandraURL:
        prefix = "cassandra://"
        if not url.startswith(prefix):
            raise ConfigError(f"expected a cassandra://HOST[:PORT]/KEYSPACE URL, got {url!r}")
        hosts, _, keyspace = url[len(prefix) :].partition("/")
        keyspace = keyspace.strip("/")
        points = []
        for item in filter(None, (h.strip() for h in hosts.split(","))):
            host, _, port = item.partition(":")
            if not _HOST.match(host) or (port and not port.isdigit()):
                raise ConfigError(f"SENSORGUARD_STORE_URL: bad host {item!r} in {url!r}")
            points.append((host, int(port) if port else DEFAULT_PORT))
        if not points:
            raise ConfigError(f"SENSORGUARD_STORE_URL names no Cassandra host: {url!r}")
        if not _KEYSPACE.match(keyspace):
            raise ConfigError(
                "SENSORGUARD_STORE_URL must end with a keyspace name (a letter, then letters, "
                f"digits or '_', at most 48), got {keyspace!r} in {url!r}"
            )
        return cls(tuple(points), keyspace)

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.contact_points)


@contextmanager
def driver_errors(
    where: str, doing: str, *, refused: type[SensorGuardError] = SensorGuardError
) -> Iterator[None]:
    """Driver errors as SensorGuard errors: a request the server refused as `refused`, anything
    else (no host reachable, timeouts, overload) as BackendUnavailable. `where` names the cluster.

    Some server answers (a configuration or syntax error, a server error) reach the caller as
    the driver's protocol messages, which are not DriverExceptions: they are mapped too.
    """
    try:
        yield
    except (RequestValidationException, protocol.RequestValidationException) as err:
        raise refused(f"{where} refused {doing}: {err}") from err
    except (NoHostAvailable, DriverException, protocol.ErrorMessage) as err:
        raise BackendUnavailable(f"{where}: {doing} failed: {err}") from err


def driver_status() -> dict[str, Any]:
    """Which cassandra-driver build runs: its event loop and whether its Cython parts are in."""
    try:
        importlib.import_module("cassandra.io.libevreactor")
        libev = True
    except ImportError:  # the C extension was not built (no libev headers at install time)
        libev = False
    return {
        "version": __version__,
        "reactor": Cluster.connection_class.__name__,
        "libev": libev,
        # HAVE_CYTHON: the Cython row parser is importable, so results decode in C.
        "cython": bool(HAVE_CYTHON),
    }


def _log_driver_status() -> None:
    if _driver_logged.is_set():
        return
    _driver_logged.set()
    status = driver_status()
    log.info(
        "cassandra-driver %s: reactor %s (libev %s), Cython extensions %s",
        status["version"],
        status["reactor"],
        "available" if status["libev"] else "MISSING: slower pure-Python event loop",
        "loaded" if status["cython"] else "MISSING: pure-Python decoding",
    )


def schema_template() -> str:
    """The CQL schema template: packaged next to this module in a wheel, else from infra/."""
    packaged = resources.files("sensorguard.store").joinpath(_SCHEMA_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo = Path(__file__).resolve().parents[3] / "infra" / "cassandra" / _SCHEMA_FILE
    if repo.is_file():
        return repo.read_text(encoding="utf-8")
    raise ConfigError(
        f"Cassandra schema not found: looked for sensorguard/store/{_SCHEMA_FILE} in the package "
        f"and {repo}"
    )


def replication_clause(settings: Settings) -> str:
    rf, dc = settings.cassandra_replication_factor, settings.cassandra_datacenter
    if dc:
        if not _DATACENTER.match(dc):
            raise ConfigError(
                f"SENSORGUARD_CASSANDRA_DATACENTER must be a data centre name, got {dc!r}"
            )
        return f"{{'class': 'NetworkTopologyStrategy', '{dc}': {rf}}}"
    return f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"


def render_schema(keyspace: str, settings: Settings) -> list[str]:
    """The schema's statements for this keyspace and these settings, comments stripped."""
    text = Template(schema_template()).substitute(
        keyspace=keyspace,
        replication=replication_clause(settings),
        ttl_s=settings.retention_days * 86_400,
    )
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return [" ".join(s.split()) for s in code.split(";") if s.strip()]


def cluster_security(settings: Settings) -> dict[str, Any]:
    """The Cluster() arguments for password authentication and client-to-node TLS, if set."""
    kwargs: dict[str, Any] = {}
    if settings.cassandra_username:
        from cassandra.auth import PlainTextAuthProvider

        kwargs["auth_provider"] = PlainTextAuthProvider(
            username=settings.cassandra_username,
            password=settings.cassandra_password.get_secret_value(),
        )
    if settings.cassandra_ssl_ca_file is not None:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(settings.cassandra_ssl_ca_file)
        )
        context.check_hostname = settings.cassandra_ssl_check_hostname
        if settings.cassandra_ssl_cert_file is not None:
            context.load_cert_chain(
                str(settings.cassandra_ssl_cert_file),
                None
                if settings.cassandra_ssl_key_file is None
                else str(settings.cassandra_ssl_key_file),
            )
        kwargs["ssl_context"] = context
    elif settings.cassandra_ssl_cert_file is not None:
        raise ConfigError(
            "SENSORGUARD_CASSANDRA_SSL_CERT_FILE needs SENSORGUARD_CASSANDRA_SSL_CA_FILE (TLS "
            "is on when a CA file is set)"
        )
    return kwargs


def ttl_left(ts: datetime, now: datetime, retention_s: int) -> int:
    """Seconds until a row stamped `ts` is past retention: its TTL (at least 1)."""
    left = retention_s - (now - ts.astimezone(UTC)).total_seconds()
    return max(1, min(_MAX_TTL_S, math.ceil(left)))


def _days(start: datetime, end: datetime) -> list[date]:
    """UTC days a half-open [start, end) range touches."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(milliseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _utc(ts: datetime) -> datetime:
    # The driver hands back naive datetimes in UTC.
    return ts.replace(tzinfo=UTC)


def _rows_per_batch(params: tuple[Any, ...]) -> int:
    """How many rows like this one fit a batch (sensor types may declare many channels)."""
    size = 16 + sum(_value_bytes(v) for v in params)
    return max(1, min(_BATCH_ROWS, _BATCH_BYTES // size))


def _value_bytes(value: Any) -> int:
    if isinstance(value, dict):
        return sum(len(k) + 12 for k in value)
    if isinstance(value, str):
        return len(value.encode())
    return 8


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _reading(sensor_id: str, row: Any) -> Reading:
    # model_construct: rows were validated on the way in; re-validating costs ~10x.
    return Reading.model_construct(
        sensor_id=sensor_id, ts=_utc(row.ts), channels=dict(row.channels), units=None, seq=row.seq
    )


class CassandraStore:
    """A TimeSeriesStore on Cassandra: prepared idempotent statements, bounded concurrency."""

    def __init__(self, url: CassandraURL, *, settings: Settings | None = None) -> None:
        _log_driver_status()
        self.settings = settings or get_settings()
        self.url = url
        self.keyspace = url.keyspace
        self.consistency = getattr(ConsistencyLevel, self.settings.cassandra_consistency)
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=self.settings.cassandra_datacenter or None)
            ),
            consistency_level=self.consistency,
            request_timeout=_REQUEST_TIMEOUT_S,
        )
        # Inside the guard: a host name that does not resolve fails already here.
        with self._errors("connecting"):
            self._cluster: Cluster = Cluster(
                contact_points=list(url.contact_points),
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                # Cassandra 4.0+ speaks v5; naming it skips two failed handshakes (v66, v65) and
                # their warnings on every connect.
                protocol_version=5,
                # The driver's default backs off to 600 s between reconnects: after an outage of
                # a few minutes the writer would sit idle for up to ten more. 1 s doubling to 30 s.
                reconnection_policy=ExponentialReconnectionPolicy(1.0, 30.0),
                connect_timeout=_CONNECT_TIMEOUT_S,
                control_connection_timeout=_CONNECT_TIMEOUT_S,
                **cluster_security(self.settings),
            )
            self.session: Session = self._cluster.connect()
        self._prepared: dict[str, PreparedStatement] = {}

    @classmethod
    def from_url(cls, url: str, *, settings: Settings | None = None) -> CassandraStore:
        return cls(CassandraURL.parse(url), settings=settings)

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        return driver_errors(f"Cassandra at {self.url.where} ({self.keyspace})", doing)

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the keyspace and tables that are missing (rendered from infra/cassandra)."""
        statements = render_schema(self.keyspace, self.settings)
        meta = self._cluster.metadata
        for stmt in statements:
            match = _CREATE.search(stmt)
            if match is None:
                raise ConfigError(
                    f"schema statements must be CREATE ... IF NOT EXISTS, got {stmt!r}"
                )
            kind, name = match.group(1).upper(), match.group(2)
            ks = meta.keyspaces.get(self.keyspace)
            # Skipping what exists keeps routine start-ups from issuing schema changes at all:
            # concurrent schema changes from many processes are what Cassandra handles worst.
            if kind == "KEYSPACE" and ks is not None:
                continue
            if kind == "TABLE" and ks is not None and name.split(".")[-1] in ks.tables:
                continue
            with self._errors(f"creating {name}"):
                self.session.execute(stmt)
            log.info("created %s %s", kind.lower(), name)
        self._add_columns()
        self._warn_on_drift()
        self._prepare()

    def _add_columns(self) -> None:
        """ALTER in the columns a table of an earlier release lacks (additive, idempotent)."""
        self._cluster.refresh_schema_metadata()
        ks = self._cluster.metadata.keyspaces.get(self.keyspace)
        for table in _SCORE_TABLES.values():
            meta = ks.tables.get(table) if ks is not None else None
            if meta is None:
                continue
            for column, cql_type in _ADDED_SCORE_COLUMNS:
                if column not in meta.columns:
                    with self._errors(f"adding {table}.{column}"):
                        self.session.execute(
                            f"ALTER TABLE {self.keyspace}.{table} ADD {column} {cql_type}"
                        )
                    log.info("added column %s.%s.%s", self.keyspace, table, column)

    def _warn_on_drift(self) -> None:
        ks = self._cluster.metadata.keyspaces.get(self.keyspace)
        if ks is None:
            return
        ttl = self.settings.retention_days * 86_400
        for table in TABLES:
            meta = ks.tables.get(table)
            live = meta.options.get("default_time_to_live") if meta is not None else None
            if live is not None and int(live) != ttl:
                log.warning(
                    "%s.%s keeps rows %ss but SENSORGUARD_RETENTION_DAYS says %ss; run "
                    "ALTER TABLE %s.%s WITH default_time_to_live = %s to apply it",
                    self.keyspace,
                    table,
                    live,
                    ttl,
                    self.keyspace,
                    table,
                    ttl,
                )
        strategy = ks.replication_strategy
        live = strategy.export_for_schema() if strategy is not None else ""
        wanted = replication_clause(self.settings)
        if live and live.replace("'", "").replace(" ", "") != wanted.replace("'", "").replace(
            " ", ""
        ):
            log.warning(
                "keyspace %s replicates with %s but the settings say %s; change it with "
                "ALTER KEYSPACE (then run a repair)",
                self.keyspace,
                live,
                wanted,
            )

    def _prepare(self) -> None:
        ks = self.keyspace
        queries: dict[str, str] = {
            "insert_reading": f"INSERT INTO {ks}.readings (sensor_id, day, ts, channels, seq) "
            "VALUES (?, ?, ?, ?, ?) USING TTL ?",
            "select_readings": f"SELECT ts, channels, seq FROM {ks}.readings "
            "WHERE sensor_id = ? AND day = ? AND ts >= ? AND ts < ?",
            # Partitions are newest first: LIMIT keeps the newest rows of a day.
            "select_latest_readings": f"SELECT ts, channels, seq FROM {ks}.readings "
            "WHERE sensor_id = ? AND day = ? AND ts >= ? AND ts < ? LIMIT ?",
        }
        for table in _SCORE_TABLES.values():
            queries[f"insert_{table}"] = (
                f"INSERT INTO {ks}.{table} (sensor_id, day, ts, score, flag, threshold, model, "
                "model_version, kind, contributions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "USING TTL ?"
            )
            queries[f"select_{table}"] = (
                "SELECT ts, score, flag, threshold, model, model_version, kind, contributions "
                f"FROM {ks}.{table} WHERE sensor_id = ? AND day = ? AND ts >= ? AND ts < ?"
            )
        for name, cql in queries.items():
            with self._errors(f"preparing {name}"):
                stmt = self.session.prepare(cql)
            # Upserts and reads may be retried on another replica after a timeout: only
            # statements marked idempotent are.
            stmt.is_idempotent = True
            self._prepared[name] = stmt

    def _stmt(self, name: str) -> PreparedStatement:
        if not self._prepared:
            self._prepare()
        return self._prepared[name]

    def truncate(self) -> None:
        """Empty both tables of this keyspace (the demo's --fresh)."""
        for table in TABLES:
            with self._errors(f"truncating {table}"):
                self.session.execute(f"TRUNCATE {self.keyspace}.{table}")

    # -- writes -----------------------------------------------------------------------------

    def _concurrently(
        self, doing: str, statements: Sequence[tuple[Statement, Sequence[Any]]]
    ) -> list[Any]:
        """The statements' results in order, at most cassandra_max_in_flight at a time."""
        with self._errors(doing):
            # raise_on_first_error: a failed request raises here, so every result is a success.
            results = execute_concurrent(
                self.session,
                statements,
                concurrency=self.settings.cassandra_max_in_flight,
                raise_on_first_error=True,
                results_generator=False,
            )
        return [r.result_or_exc for r in results]

    def _write(
        self, doing: str, stmt: PreparedStatement, rows: dict[tuple[str, datetime], tuple[Any, ...]]
    ) -> None:
        partitions: dict[tuple[str, date], list[tuple[Any, ...]]] = {}
        for params in rows.values():
            partitions.setdefault((params[0], params[1]), []).append(params)
        statements: list[tuple[Statement, Sequence[Any]]] = []
        for part_rows in partitions.values():
            for chunk in _chunks(part_rows, _rows_per_batch(part_rows[0])):
                if len(chunk) == 1:
                    statements.append((stmt, chunk[0]))
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                batch.is_idempotent = True
                for params in chunk:
                    batch.add(stmt, params)
                statements.append((batch, ()))
        self._concurrently(doing, statements)

    @property
    def _retention_s(self) -> int:
        return self.settings.retention_days * 86_400

    def _kept(self, rows: Sequence[Any], what: str) -> tuple[datetime, Sequence[Any]]:
        now = utc_now()
        kept = within_retention(rows, retention_cutoff(self.settings.retention_days, now))
        if len(kept) < len(rows):
            log.info(
                "not storing %d %s older than the retention of %d days",
                len(rows) - len(kept),
                what,
                self.settings.retention_days,
            )
        return now, kept

    def write_readings(self, readings: Sequence[Reading]) -> int:
        now, readings = self._kept(readings, "readings")
        ttl = self._retention_s
        # Keyed by identity so the last version of a reading in the batch wins: the rows of one
        # unlogged batch share a write timestamp, which would otherwise let either one win.
        rows = {
            (r.sensor_id, r.ts): (
                r.sensor_id,
                r.ts.astimezone(UTC).date(),
                r.ts,
                dict(r.channels),
                r.seq,
                ttl_left(r.ts, now, ttl),
            )
            for r in readings
        }
        self._write(f"writing {len(readings)} readings", self._stmt("insert_reading"), rows)
        return len(readings)

    def write_scores(self, scores: Sequence[Score], *, shadow: bool = False) -> int:
        now, scores = self._kept(scores, _SCORE_TABLES[shadow])
        ttl = self._retention_s
        rows = {
            (s.sensor_id, s.ts): (
                s.sensor_id,
                s.ts.astimezone(UTC).date(),
                s.ts,
                s.score,
                s.flag,
                s.threshold,
                s.model,
                s.model_version,
                s.kind,
                dict(s.contributions),
                ttl_left(s.ts, now, ttl),
            )
            for s in scores
        }
        table = _SCORE_TABLES[shadow]
        self._write(f"writing {len(scores)} {table}", self._stmt(f"insert_{table}"), rows)
        return len(scores)

    # -- reads ------------------------------------------------------------------------------

    def _range(
        self, name: str, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[tuple[str, Any]]:
        """(sensor_id, row) for the range, by sensor then ts ascending: one query per sensor-day."""
        if end <= start:
            return
        stmt, doing = self._stmt(name), f"reading {name}"
        keys = [(sid, day) for sid in sorted(set(sensor_ids)) for day in _days(start, end)]
        pages = self._concurrently(doing, [(stmt, (*key, start, end)) for key in keys])
        for (sid, _), page in zip(keys, pages, strict=True):
            # Partitions are newest first; the contract wants ascending time. Further pages
            # (more than fetch_size rows in a sensor-day) are fetched while listing.
            with self._errors(doing):
                rows = list(page)
            for row in reversed(rows):
                yield sid, row

    def read_readings(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[Reading]:
        # model_construct: rows were validated on the way in; re-validating costs ~10x.
        return [
            _reading(sid, row)
            for sid, row in self._range("select_readings", sensor_ids, start, end)
        ]

    def read_latest(
        self, sensor_id: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        """Day partitions newest first, each asked only for the rows still missing."""
        stmt = self._stmt("select_latest_readings")
        found: list[Reading] = []
        for day in reversed(_days(start, end)) if end > start else []:
            if len(found) >= limit:
                break
            with self._errors("reading the latest readings"):
                rows = list(
                    self.session.execute(stmt, (sensor_id, day, start, end, limit - len(found)))
                )
            found.extend(_reading(sensor_id, row) for row in rows)
        return found[::-1]

    def read_scores(
        self, sensor_ids: Sequence[str], start: datetime, end: datetime, *, shadow: bool = False
    ) -> list[Score]:
        return [
            Score.model_construct(
                sensor_id=sid,
                ts=_utc(row.ts),
                score=row.score,
                flag=row.flag,
                threshold=row.threshold,
                model=row.model,
                model_version=row.model_version,
                kind=row.kind or "",
                contributions=dict(row.contributions or {}),
            )
            for sid, row in self._range(f"select_{_SCORE_TABLES[shadow]}", sensor_ids, start, end)
        ]

    # -- housekeeping -----------------------------------------------------------------------

    def purge(self) -> dict[str, int]:
        """Nothing to do: every row was written with the TTL its retention leaves."""
        return dict.fromkeys(TABLES, 0)

    def stats(self) -> list[TableStats]:
        """Estimated rows and bytes (the node's own estimates, no nodetool), and the time span.

        Size: system_views.disk_usage (live SSTables on this node) when the server has it, or
        system.size_estimates' partitions times their mean size; the partition count (sensor
        days) is that estimate too. Both lag writes still in memtables; counting rows exactly
        would read the whole table, so it is not done. The span
        comes from the oldest and newest (sensor, day) partitions, one query each.
        """
        sizes = self._disk_usage()
        out = []
        for table in TABLES:
            partitions, mean_bytes = self._size_estimate(table)
            oldest, newest, capped = self._span(table)
            note = f"span of the first {_STATS_MAX_PARTITIONS} partitions" if capped else ""
            # disk_usage counts whole MiB: a small table shows 0 there, so take the larger.
            estimates = [b for b in (sizes.get(table), (partitions or 0) * mean_bytes) if b]
            out.append(
                TableStats(
                    table=table,
                    rows=None,
                    partitions=partitions,
                    bytes=max(estimates) if estimates else None,
                    bytes_estimated=True,
                    oldest=oldest,
                    newest=newest,
                    note=note,
                )
            )
        return out

    def _disk_usage(self) -> dict[str, int]:
        try:
            rows = self.session.execute(
                "SELECT table_name, mebibytes FROM system_views.disk_usage "
                "WHERE keyspace_name = %s",
                (self.keyspace,),
            )
        except (DriverException, protocol.ErrorMessage, RequestValidationException):
            return {}  # an older server without the virtual table
        return {r.table_name: int(r.mebibytes) * 1024 * 1024 for r in rows}

    def _size_estimate(self, table: str) -> tuple[int | None, int]:
        with self._errors(f"reading the size estimates of {table}"):
            rows = list(
                self.session.execute(
                    "SELECT partitions_count, mean_partition_size FROM system.size_estimates "
                    "WHERE keyspace_name = %s AND table_name = %s",
                    (self.keyspace, table),
                )
            )
        if not rows:
            return None, 0
        partitions = sum(int(r.partitions_count) for r in rows)
        mean = max(int(r.mean_partition_size) for r in rows)
        return partitions, mean

    def _span(self, table: str) -> tuple[datetime | None, datetime | None, bool]:
        """Oldest and newest ts, from the partitions of the first and last day there are."""
        ks = self.keyspace
        with self._errors(f"listing the partitions of {table}"):
            keys = self.session.execute(f"SELECT DISTINCT sensor_id, day FROM {ks}.{table}")
            old_day: date | None = None
            new_day: date | None = None
            old_ids: list[str] = []
            new_ids: list[str] = []
            seen = 0
            for key in keys:
                seen += 1
                day = key.day.date()
                if old_day is None or day < old_day:
                    old_day, old_ids = day, []
                if day == old_day:
                    old_ids.append(key.sensor_id)
                if new_day is None or day > new_day:
                    new_day, new_ids = day, []
                if day == new_day:
                    new_ids.append(key.sensor_id)
                if seen >= _STATS_MAX_PARTITIONS:
                    break
        if old_day is None or new_day is None:
            return None, None, False
        oldest = self._edge(table, old_day, old_ids, "MIN")
        newest = self._edge(table, new_day, new_ids, "MAX")
        return oldest, newest, seen >= _STATS_MAX_PARTITIONS

    def _edge(self, table: str, day: date, sensor_ids: list[str], fn: str) -> datetime | None:
        found = []
        with self._errors(f"reading the time span of {table}"):
            for sensor_id in sensor_ids[:1000]:
                row = self.session.execute(
                    f"SELECT {fn}(ts) AS edge FROM {self.keyspace}.{table} "
                    "WHERE sensor_id = %s AND day = %s",
                    (sensor_id, day),
                ).one()
                if row is not None and row.edge is not None:
                    found.append(_utc(row.edge))
        if not found:
            return None
        return min(found) if fn == "MIN" else max(found)

    def close(self) -> None:
        self._cluster.shutdown()
