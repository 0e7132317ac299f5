"""One SQLite connection shared by threads: WAL, explicit write transactions, clear errors.

The embedded store, the embedded stream log and the metadata store all sit on this, so the
locking, transaction and error rules are written once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sensorguard.errors import BackendUnavailable, ConfigError


class SqliteDatabase:
    """A WAL-mode SQLite file behind a lock.

    `synchronous="FULL"` makes a committed write survive power loss (the stream log promises
    that an acknowledged append is on disk); `NORMAL` survives process crashes and is faster.
    """

    def __init__(
        self,
        path: Path,
        *,
        what: str,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 30.0,
        rows_as_dicts: bool = False,
        foreign_keys: bool = False,
    ) -> None:
        self.path = path
        self.what = what
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, so none is left open by accident.
            self.conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"cannot open {what} {path}: {err}") from None
        try:
            if rows_as_dicts:
                self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        except sqlite3.DatabaseError as err:
            self.conn.close()
            if _is_busy(err):
                raise BackendUnavailable(f"{what} {path} is locked: {err}") from None
            raise ConfigError(f"{path} is not a usable SQLite database: {err}") from None
        self.lock = threading.RLock()

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as err:
            if _is_busy(err) or "disk" in str(err):
                raise BackendUnavailable(f"{self.what} {self.path}: {err}") from None
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the file's write lock from its first statement."""
        with self.lock, self.errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:  # some errors make SQLite roll back by itself
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def create_schema(self, sql: str) -> None:
        """Run `CREATE … IF NOT EXISTS` statements in one transaction.

        Statement by statement: `executescript` would commit the open transaction first.
        """
        with self.write() as conn:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self.lock, self.errors():
            return self.conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _is_busy(err: sqlite3.Error) -> bool:
    return "locked" in str(err) or "busy" in str(err)
