"""PostgreSQL storage through psycopg 3."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.schema import CreateSchema

from kern.db.base import DatabaseError
from kern.db.deadline import deadline, watch_connection
from kern.db.sql import SqlDb, Unavailable
from kern.db.tables import DEFAULT_RUN_TABLE, DEFAULT_SESSION_TABLE

CONNECT_TIMEOUT_S = 5
"""Default seconds to wait for the server before reporting it unreachable (psycopg's minimum is 2)."""
QUERY_TIMEOUT_S = 30.0
"""Default seconds a transaction may wait for the server's answers before its connection is cut."""

_TRANSIENT_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
_CREATE_LOCK_KEY = 0x6B65726E  # "kern": serialises table creation across processes


class PostgresDb(SqlDb):
    """Runs and sessions in a PostgreSQL database.

    `db_url` may start with `postgresql://`, `postgres://`, `postgresql+psycopg://` or (as Agno's async
    examples write it) `postgresql+psycopg_async://`; it always connects with psycopg 3. `db_schema` puts
    the tables in that schema (created if missing).
    A malformed URL fails here; an unreachable server fails at first use, after at most
    `connect_timeout` seconds (5 by default); a server that stops answering (frozen, hung host) fails a
    transaction after `query_timeout` seconds (30 by default): its connection is cut (kern.db.deadline).
    """

    def __init__(
        self,
        db_url: str,
        *,
        db_schema: str | None = None,
        session_table: str = DEFAULT_SESSION_TABLE,
        run_table: str = DEFAULT_RUN_TABLE,
        connect_timeout: int = CONNECT_TIMEOUT_S,
        query_timeout: float = QUERY_TIMEOUT_S,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.query_timeout = query_timeout
        self.db_url = normalise_url(db_url).render_as_string(hide_password=False)
        super().__init__(session_table=session_table, run_table=run_table, db_schema=db_schema)

    @property
    def description(self) -> str:
        return f"PostgreSQL database {mask_password(self.db_url)}"

    def _create_engine(self) -> Engine:
        # No pre-ping: it would run before a transaction's deadline can watch the connection. A pooled
        # connection that died (the server restarted) fails its first statement, and BaseDb retries once.
        engine = create_engine(
            self.db_url,
            pool_size=5,
            max_overflow=20,
            pool_timeout=60,
            connect_args={"connect_timeout": self.connect_timeout},
        )
        # "connect" first of all, so the dialect's own first queries on a new connection are watched too.
        event.listen(engine, "connect", _watch, insert=True)
        event.listen(engine, "checkout", _watch)
        return engine

    @contextmanager
    def _transaction(self, engine: Engine, write: bool) -> Iterator[Connection]:
        with deadline(self.query_timeout) as watch:
            try:
                with super()._transaction(engine, write) as conn:
                    yield conn
            except sa_exc.DBAPIError as exc:
                if watch.fired:
                    raise Unavailable(f"no answer within {self.query_timeout:g} s") from exc
                raise

    def _insert(self, table: Table) -> Insert:
        return insert(table)

    def _before_create_tables(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
        if self.db_schema is not None:
            conn.execute(CreateSchema(self.db_schema, if_not_exists=True))

    def _is_transient(self, exc: sa_exc.DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


class AsyncPostgresDb(PostgresDb):
    """Agno's async PostgreSQL db, under its name: kern already keeps storage off the event loop (its
    writer and reader threads, kern.db.writer and kern.db.reader), so this is `PostgresDb`, same
    arguments (a `postgresql+psycopg_async://` URL included)."""


def _watch(dbapi_connection: Any, *_: Any) -> None:
    watch_connection(dbapi_connection.pgconn.socket)


def mask_password(db_url: str) -> str:
    """The URL with its password replaced by ***; a URL without one (`sqlite:///path`) is returned as is.

    SQLAlchemy renders the URL; one it can't parse (a bad port, say) is masked by pattern instead.
    """
    try:
        url = make_url(db_url)
        if url.password is None:
            return db_url
        return url.render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", db_url)


def normalise_url(db_url: str) -> URL:
    """Parse a PostgreSQL URL and point it at the psycopg 3 driver; DatabaseError if it can't be used."""
    try:
        url = make_url(db_url)
        port = url.port
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise DatabaseError(f"malformed PostgreSQL URL {mask_password(str(db_url))}: {exc}") from exc
    backend, _, driver = url.drivername.partition("+")
    shown = mask_password(str(db_url))
    if backend not in ("postgresql", "postgres") or driver not in ("", "psycopg", "psycopg_async"):
        raise DatabaseError(
            f"unsupported PostgreSQL URL {shown}: use postgresql://, postgres:// or postgresql+psycopg://"
            " (or postgresql+psycopg_async://)"
        )
    if port is not None and not 0 < port < 65536:
        raise DatabaseError(f"malformed PostgreSQL URL {shown}: port {port} is out of range")
    return url.set(drivername="postgresql+psycopg")
