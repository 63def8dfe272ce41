"""SQLite storage: one file, WAL mode, safe for many threads and processes on one machine."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from kern.db.base import DatabaseError
from kern.db.sql import SqlDb, Unavailable
from kern.db.tables import DEFAULT_RUN_TABLE, DEFAULT_SESSION_TABLE

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another writer's lock before SQLite reports "database is locked"."""


class SqliteDb(SqlDb):
    """Runs and sessions in a SQLite file (its folder is created if needed).

    A relative `db_file` is resolved against the current directory when the db is created, so a copy
    pickled into a Ray actor opens the same file. Writes take the lock up front (`BEGIN IMMEDIATE`)
    and every connection waits up to 30 s for it, then the write is retried. `":memory:"` keeps the
    data in this process only, on one shared connection: for single-threaded tests, not for actors.
    """

    def __init__(
        self,
        db_file: str | os.PathLike[str] = "kern.db",
        *,
        session_table: str = DEFAULT_SESSION_TABLE,
        run_table: str = DEFAULT_RUN_TABLE,
    ) -> None:
        path = os.fspath(db_file)
        self.db_file = path if path == ":memory:" else os.path.abspath(os.path.expanduser(path))
        super().__init__(session_table=session_table, run_table=run_table)

    @property
    def description(self) -> str:
        return f"SQLite database {self.db_file}"

    def _create_engine(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.db_file == ":memory:":
            kwargs["poolclass"] = StaticPool
        else:
            folder = os.path.dirname(self.db_file)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot open {self.description}: cannot create folder {folder}: {exc.strerror or exc}"
                ) from exc
            if os.path.isdir(self.db_file):
                raise DatabaseError(f"cannot open {self.description}: it is a directory")
            kwargs.update(pool_size=5, max_overflow=20, pool_timeout=60)
        url = URL.create("sqlite", database=self.db_file)
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        return engine

    def _insert(self, table: Table) -> Insert:
        return insert(table)

    def _is_transient(self, exc: sa_exc.DBAPIError) -> bool:
        text = str(exc.orig).lower()
        return (
            "database is locked" in text or "database is busy" in text or "database table is locked" in text
        )

    def _check_usable(self) -> None:
        """Refuse files that became read-only instead of letting SQLite crash the process.

        In WAL mode every connection of a process shares a writable memory map of the `-shm` file;
        once that file is made read-only underneath (`chattr +i`, a file system remounted read-only
        after an error), SQLite's next write to the map kills the process with SIGBUS. So each
        transaction first asks whether the files may still be written (`access(2)`: no descriptor is
        opened, so SQLite's POSIX locks stay untouched).
        """
        if self.db_file == ":memory:":
            return
        for path in (self.db_file, f"{self.db_file}-wal", f"{self.db_file}-shm"):
            # Asked again after `exists`: another process may create the file between the first two.
            if not os.access(path, os.W_OK) and os.path.exists(path) and not os.access(path, os.W_OK):
                raise Unavailable(f"it is read-only ({path} cannot be written)")

    def close(self) -> None:
        """Close this process's connections, unless the files became read-only: closing the last
        connection checkpoints, which writes to the `-shm` map (SIGBUS, see `_check_usable`)."""
        try:
            self._check_usable()
        except Unavailable:
            return
        super().close()


class AsyncSqliteDb(SqliteDb):
    """Agno's async SQLite db, under its name: kern already keeps storage off the event loop (its writer
    and reader threads, kern.db.writer and kern.db.reader), so this is `SqliteDb`, same arguments."""


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    """Per connection: let SQLAlchemy emit BEGIN itself, wait for locks, use WAL."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    """Writes lock the database at BEGIN, so they wait for the lock instead of failing mid-transaction."""
    write = conn.get_execution_options().get("kern_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
