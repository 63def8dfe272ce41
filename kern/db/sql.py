"""Runs and sessions in a SQL database, shared by SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    RowMapping,
    Table,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from kern.db.base import (
    BaseDb,
    DatabaseError,
    SessionRecord,
    SessionSortField,
    SessionType,
    SortOrder,
    TokenUsage,
)
from kern.db.records import TERMINAL_STATUSES, AnyRun, batch_rows, build_runs
from kern.db.tables import DEFAULT_RUN_TABLE, DEFAULT_SESSION_TABLE, Tables, build_tables, upgrade_tables
from kern.run.agent import RunOutput
from kern.run.base import RunStatus

T = TypeVar("T")

_CHUNK = 500
"""Most ids in one `IN (...)`."""


class Unavailable(sa_exc.SQLAlchemyError):
    """Raised inside a transaction when the database can't be used now (read-only files, no answer)."""


def error_cause(exc: BaseException) -> str:
    """A one-line reason for an exception, preferring the driver's own message."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    text = text.split("\n(Background on this error")[0]
    return " ".join(text.split())


class SqlDb(BaseDb):
    """Runs and sessions in a SQL database; subclasses say how to connect.

    The engine is created on first use, in the process that uses it: a pickled db carries only its
    configuration, so it can be sent into Ray actors on other processes or nodes. Tables are created
    on first use too, and tables of an older kern get the columns they lack.
    """

    retry_seconds: float = 60.0
    """How long a write keeps retrying when the database is busy (locked, deadlock)."""

    def __init__(
        self,
        *,
        session_table: str = DEFAULT_SESSION_TABLE,
        run_table: str = DEFAULT_RUN_TABLE,
        db_schema: str | None = None,
    ) -> None:
        self.session_table = session_table
        self.run_table = run_table
        self.db_schema = db_schema
        self._init_runtime()

    # ----- subclass hooks -------------------------------------------------------------------------

    def _create_engine(self) -> Engine:
        """A new engine for this process."""
        raise NotImplementedError

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT (`sqlite.insert` / `postgresql.insert`), which supports ON CONFLICT."""
        raise NotImplementedError

    def _before_create_tables(self, conn: Connection) -> None:
        """Run in the table-creating transaction before `create_all` (e.g. serialise processes)."""

    def _is_transient(self, exc: sa_exc.DBAPIError) -> bool:
        """Whether a failed transaction may succeed when retried at once (lock, deadlock)."""
        return False

    def _check_usable(self) -> None:
        """Raise `Unavailable` if a transaction must not even start (called before connecting)."""

    # ----- lifecycle ------------------------------------------------------------------------------

    def _init_runtime(self) -> None:
        self._tables: Tables = build_tables(self.session_table, self.run_table, self.db_schema)
        self._engine: Engine | None = None
        self._engine_pid: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Only the configuration: the engine is recreated where the db is unpickled."""
        return {
            k: v for k, v in self.__dict__.items() if k not in ("_tables", "_engine", "_engine_pid", "_lock")
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    @property
    def engine(self) -> Engine:
        """This process's engine, created (with the tables) on first use."""
        engine = self._engine
        if engine is not None and self._engine_pid == os.getpid():
            return engine
        with self._lock:
            if self._engine is not None and self._engine_pid == os.getpid():
                return self._engine
            if self._engine is not None:  # inherited through fork: leave the parent's connections alone
                self._engine.dispose(close=False)
                self._engine = None
            engine = self._open()
            self._engine, self._engine_pid = engine, os.getpid()
            return engine

    def close(self) -> None:
        """Close this process's connections; the next call opens new ones."""
        with self._lock:
            if self._engine is not None and self._engine_pid == os.getpid():
                self._engine.dispose()
            self._engine = None

    def _open(self) -> Engine:
        try:
            engine = self._create_engine()
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(f"cannot open {self.description}: {error_cause(exc)}") from exc
        try:
            self._retry(engine, self._create_tables, write=True, what="cannot open")
        except BaseException:
            engine.dispose()
            raise
        return engine

    def _create_tables(self, conn: Connection) -> None:
        self._before_create_tables(conn)
        self._tables.metadata.create_all(conn, checkfirst=True)
        upgrade_tables(conn, self._tables)

    # ----- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, engine: Engine, write: bool) -> Iterator[Connection]:
        self._check_usable()
        with engine.connect() as conn:
            conn.execution_options(kern_write=write)
            with conn.begin():
                yield conn

    def _retry(self, engine: Engine, fn: Callable[[Connection], T], *, write: bool, what: str) -> T:
        """Run `fn` in one transaction, retrying while the database is busy, and once more on a fresh
        connection when a pooled one turns out dead (the server restarted); errors become DatabaseError."""
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.01
        reconnects = 1
        while True:
            try:
                with self._transaction(engine, write) as conn:
                    return fn(conn)
            except sa_exc.DBAPIError as exc:
                if (self._is_transient(exc) or _already_exists(exc)) and time.monotonic() < deadline:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.25)
                    continue
                if exc.connection_invalidated and reconnects > 0:
                    reconnects -= 1
                    continue
                transient = isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
                raise DatabaseError(self._failed(what, exc), transient=transient) from exc
            except Unavailable as exc:
                raise DatabaseError(f"{what} {self.description}: {exc}", transient=True) from exc
            except sa_exc.SQLAlchemyError as exc:
                transient = isinstance(exc, sa_exc.TimeoutError)  # no connection free in the pool
                raise DatabaseError(self._failed(what, exc), transient=transient) from exc

    def _failed(self, what: str, exc: BaseException) -> str:
        return f"{what} {self.description}: {error_cause(exc)}"

    def _run(self, fn: Callable[[Connection], T], *, write: bool, what: str) -> T:
        return self._retry(self.engine, fn, write=write, what=f"{what} failed on")

    # ----- runs (documented on BaseDb) ----------------------------------------------------------

    def save_run(self, run: RunOutput) -> None:
        self._save_all([run], what=f"save_run({run.run_id!r})")

    def save_runs(self, runs: Sequence[RunOutput]) -> None:
        self._save_all(runs, what="save_runs")

    def _save_all(self, runs: Sequence[RunOutput], what: str) -> None:
        own, copies, touched = batch_rows(runs, time.time())
        table, sessions = self._tables.runs, self._tables.sessions
        # A run's own save wins unless it would turn a finished run back to running. A team's copy of a
        # member run only fills in what the member has not stored itself as finished (the member's own
        # record, written where it ran, is the fuller one).
        finished = TERMINAL_STATUSES
        statements: list[Any] = [
            self._upsert_runs(own, lambda new: or_(table.c.status.not_in(finished), new.status.in_(finished)))
        ]
        if copies:
            statements.append(self._upsert_runs(copies, lambda new: table.c.status.not_in(finished)))
        if touched:
            touch = self._insert(sessions).values(touched)
            unclaimed = sessions.c.component_id == ""  # created empty: its first run says whose it is
            touch = touch.on_conflict_do_update(
                index_elements=[sessions.c.session_id],
                set_={
                    "session_type": case(
                        (unclaimed, touch.excluded.session_type), else_=sessions.c.session_type
                    ),
                    "component_id": case(
                        (unclaimed, touch.excluded.component_id), else_=sessions.c.component_id
                    ),
                    "updated_at": case(
                        (touch.excluded.updated_at > sessions.c.updated_at, touch.excluded.updated_at),
                        else_=sessions.c.updated_at,
                    ),
                    "user_id": func.coalesce(sessions.c.user_id, touch.excluded.user_id),
                    "session_state": func.coalesce(touch.excluded.session_state, sessions.c.session_state),
                },
            )
            statements.append(touch)

        def write(conn: Connection) -> None:
            for statement in statements:
                conn.execute(statement)

        self._run(write, write=True, what=what)

    def _upsert_runs(self, rows: list[dict[str, Any]], when: Callable[[Any], Any]) -> Insert:
        """Insert rows, or update existing ones where `when(excluded)` holds."""
        runs = self._tables.runs
        upsert = self._insert(runs).values(rows)
        new = upsert.excluded
        return upsert.on_conflict_do_update(
            index_elements=[runs.c.run_id],
            set_={
                "session_id": func.coalesce(new.session_id, runs.c.session_id),
                "parent_run_id": func.coalesce(new.parent_run_id, runs.c.parent_run_id),
                "user_id": func.coalesce(new.user_id, runs.c.user_id),
                "component_type": new.component_type,
                "component_id": new.component_id,
                "status": new.status,
                "created_at": new.created_at,
                "updated_at": new.updated_at,
                "data": new.data,
            },
            where=when(new),
        )

    def get_run(self, run_id: str) -> AnyRun | None:
        runs = self._tables.runs

        def read(conn: Connection) -> AnyRun | None:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
            return self._load(conn, [row])[0] if row is not None else None

        return self._run(read, write=False, what=f"get_run({run_id!r})")

    def get_history(
        self, session_id: str, component_id: str | None, num_runs: int, *, top_level: bool = True
    ) -> list[AnyRun]:
        if num_runs <= 0:
            return []
        runs = self._tables.runs
        query = (
            select(runs)
            .where(runs.c.session_id == session_id, runs.c.status == RunStatus.completed.value)
            .order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
            .limit(num_runs)
        )
        if top_level:
            query = query.where(runs.c.parent_run_id.is_(None))
        if component_id is not None:
            query = query.where(runs.c.component_id == component_id)

        def read(conn: Connection) -> list[AnyRun]:
            rows = list(conn.execute(query).mappings())
            rows.reverse()
            return self._load(conn, rows)

        return self._run(read, write=False, what=f"get_history({session_id!r})")

    # ----- sessions (documented on BaseDb) ------------------------------------------------------

    def get_session(self, session_id: str, *, with_runs: bool = True) -> SessionRecord | None:
        sessions = self._tables.sessions

        def read(conn: Connection) -> SessionRecord | None:
            row = conn.execute(select(sessions).where(sessions.c.session_id == session_id)).mappings().first()
            if row is None or not with_runs:
                return None if row is None else SessionRecord(**row)
            usage = self._usage(conn, [session_id]).get(session_id)
            return SessionRecord(**row, runs=self._session_runs(conn, session_id), usage=usage)

        return self._run(read, write=False, what=f"get_session({session_id!r})")

    def get_sessions(
        self,
        session_type: SessionType | None = None,
        component_id: str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        *,
        session_name: str | None = None,
        page: int = 1,
        sort_by: SessionSortField = "updated_at",
        sort_order: SortOrder = "desc",
    ) -> list[SessionRecord]:
        if limit < 1 or page < 1:
            raise ValueError(f"limit and page must be at least 1, got limit={limit}, page={page}")
        sessions = self._tables.sessions
        keys = (self._sort_key(sort_by), sessions.c.session_id)
        query = (
            select(sessions)
            .where(*self._session_filters(session_type, component_id, user_id, session_name))
            .order_by(*((key.asc() if sort_order == "asc" else key.desc()).nulls_last() for key in keys))
            .limit(limit)
            .offset((page - 1) * limit)
        )

        def read(conn: Connection) -> list[SessionRecord]:
            rows = list(conn.execute(query).mappings())
            usage = self._usage(conn, [row["session_id"] for row in rows])
            first = self._first_runs(conn, [row["session_id"] for row in rows if row["session_name"] is None])
            return [
                SessionRecord(
                    **row, usage=usage.get(row["session_id"]), first_run=first.get(row["session_id"])
                )
                for row in rows
            ]

        return self._run(read, write=False, what="get_sessions")

    def count_sessions(
        self,
        session_type: SessionType | None = None,
        component_id: str | None = None,
        user_id: str | None = None,
        *,
        session_name: str | None = None,
    ) -> int:
        sessions = self._tables.sessions
        query = (
            select(func.count())
            .select_from(sessions)
            .where(*self._session_filters(session_type, component_id, user_id, session_name))
        )
        return self._run(
            lambda conn: int(conn.execute(query).scalar_one()), write=False, what="count_sessions"
        )

    def get_session_runs(self, session_id: str) -> list[AnyRun]:
        return self._run(
            lambda conn: self._session_runs(conn, session_id),
            write=False,
            what=f"get_session_runs({session_id!r})",
        )

    def list_runs(
        self,
        session_id: str,
        *,
        created_after: int | None = None,
        created_before: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[AnyRun]:
        runs = self._tables.runs
        query = select(runs).where(runs.c.session_id == session_id).order_by(runs.c.created_at, runs.c.run_id)
        if created_after is not None:
            query = query.where(runs.c.created_at >= created_after)
        if created_before is not None:
            query = query.where(runs.c.created_at < created_before + 1)
        if statuses is not None:
            query = query.where(runs.c.status.in_(list(statuses)))
        return self._run(
            lambda conn: build_runs(conn.execute(query).mappings().all(), {}),
            write=False,
            what=f"list_runs({session_id!r})",
        )

    def get_session_state(self, session_id: str) -> dict[str, Any] | None:
        sessions = self._tables.sessions
        query = select(sessions.c.session_state).where(sessions.c.session_id == session_id)
        return self._run(
            lambda conn: conn.execute(query).scalar(), write=False, what=f"get_session_state({session_id!r})"
        )

    def update_session(
        self,
        session_id: str,
        *,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> bool:
        sessions = self._tables.sessions
        values = _given(session_name=session_name, session_state=session_state, updated_at=time.time())
        statement = update(sessions).where(sessions.c.session_id == session_id).values(values)
        return self._run(
            lambda conn: conn.execute(statement).rowcount > 0,
            write=True,
            what=f"update_session({session_id!r})",
        )

    def upsert_session(
        self,
        session_id: str,
        session_type: SessionType,
        component_id: str,
        user_id: str | None = None,
        *,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> None:
        sessions = self._tables.sessions
        now = time.time()
        upsert = self._new_session(
            session_id, session_type, component_id, user_id, session_name, session_state, now
        )
        given = _given(session_name=session_name, session_state=session_state, updated_at=now)
        statement = upsert.on_conflict_do_update(
            index_elements=[sessions.c.session_id], set_={name: upsert.excluded[name] for name in given}
        )
        self._run(lambda conn: conn.execute(statement), write=True, what=f"upsert_session({session_id!r})")

    def _new_session(
        self,
        session_id: str,
        session_type: SessionType,
        component_id: str,
        user_id: str | None,
        session_name: str | None,
        session_state: dict[str, Any] | None,
        now: float,
    ) -> Any:
        """The INSERT of a new session row (its conflict handling left to the caller)."""
        return self._insert(self._tables.sessions).values(
            session_id=session_id, session_type=session_type, component_id=component_id, user_id=user_id,
            session_name=session_name, session_state=session_state, created_at=now, updated_at=now,
        )  # fmt: skip

    def create_session(
        self,
        session_id: str,
        session_type: SessionType,
        component_id: str = "",
        user_id: str | None = None,
        *,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> bool:
        sessions = self._tables.sessions
        statement = (
            self._new_session(
                session_id, session_type, component_id, user_id, session_name, session_state, time.time()
            )
            .on_conflict_do_nothing(index_elements=[sessions.c.session_id])
            .returning(sessions.c.session_id)
        )
        return self._run(
            lambda conn: conn.execute(statement).first() is not None,
            write=True,
            what=f"create_session({session_id!r})",
        )

    def delete_sessions(self, session_ids: Sequence[str], user_id: str | None = None) -> int:
        runs, sessions = self._tables.runs, self._tables.sessions

        def write(conn: Connection) -> int:
            found: set[str] = set()
            for chunk in _chunks(list(dict.fromkeys(session_ids))):
                there = select(sessions.c.session_id).where(sessions.c.session_id.in_(chunk))
                if user_id is not None:
                    found.update(conn.scalars(there.where(sessions.c.user_id == user_id)))
                else:  # runs with no session row yet (members saved before their team) count too
                    with_runs = select(runs.c.session_id).where(runs.c.session_id.in_(chunk))
                    found.update(conn.scalars(there.union(with_runs)))
            run_ids = [
                r
                for chunk in _chunks(sorted(found))
                for r in conn.scalars(select(runs.c.run_id).where(runs.c.session_id.in_(chunk)))
            ]
            run_ids += [r["run_id"] for rows in self._descendants(conn, run_ids).values() for r in rows]
            for chunk in _chunks(run_ids):
                conn.execute(delete(runs).where(runs.c.run_id.in_(chunk)))
            for chunk in _chunks(sorted(found)):
                conn.execute(delete(sessions).where(sessions.c.session_id.in_(chunk)))
            return len(found)

        return self._run(write, write=True, what=f"delete_sessions({len(session_ids)} ids)")

    def _session_filters(
        self,
        session_type: SessionType | None,
        component_id: str | None,
        user_id: str | None,
        session_name: str | None,
    ) -> list[ColumnElement[bool]]:
        """The WHERE clauses of `get_sessions` and `count_sessions`."""
        c = self._tables.sessions.c
        given = {c.session_type: session_type, c.component_id: component_id, c.user_id: user_id}
        filters = [column == value for column, value in given.items() if value is not None]
        if session_name is not None:
            filters.append(c.session_name.icontains(session_name, autoescape=True))
        return filters

    def _sort_key(self, field: SessionSortField) -> ColumnElement[Any]:
        """What `get_sessions` sorts by: a column, or Agno's agent_id / team_id (the component id of
        the sessions of that type, NULL for the others), NULLs last."""
        c = self._tables.sessions.c
        if field in ("agent_id", "team_id"):
            return case((c.session_type == field.removesuffix("_id"), c.component_id))
        column: ColumnElement[Any] = c[field]
        return column

    def _usage(self, conn: Connection, session_ids: Sequence[str]) -> dict[str, TokenUsage]:
        """The token counts of these sessions' runs (members' included), for the sessions with runs."""
        runs = self._tables.runs
        sums = [
            func.sum(func.coalesce(runs.c.data[("metrics", name)].as_integer(), 0)).label(name)
            for name in TokenUsage.model_fields
        ]
        usage: dict[str, TokenUsage] = {}
        for chunk in _chunks(session_ids):
            query = (
                select(runs.c.session_id, *sums)
                .where(runs.c.session_id.in_(chunk))
                .group_by(runs.c.session_id)
            )
            for row in conn.execute(query).mappings():
                usage[row["session_id"]] = TokenUsage(**{name: row[name] for name in TokenUsage.model_fields})
        return usage

    def _first_runs(self, conn: Connection, session_ids: Sequence[str]) -> dict[str, AnyRun]:
        """The first top-level run of each of these sessions that has runs, without its members."""
        runs = self._tables.runs
        rank = func.row_number().over(
            partition_by=runs.c.session_id, order_by=(runs.c.created_at, runs.c.run_id)
        )
        first: dict[str, AnyRun] = {}
        for chunk in _chunks(session_ids):
            ranked = (
                select(runs, rank.label("rank"))
                .where(runs.c.session_id.in_(chunk), runs.c.parent_run_id.is_(None))
                .subquery()
            )
            rows = list(conn.execute(select(ranked).where(ranked.c.rank == 1)).mappings())
            first.update(zip((row["session_id"] for row in rows), build_runs(rows, {}), strict=True))
        return first

    def _session_runs(self, conn: Connection, session_id: str) -> list[AnyRun]:
        runs = self._tables.runs
        query = (
            select(runs)
            .where(runs.c.session_id == session_id, runs.c.parent_run_id.is_(None))
            .order_by(runs.c.created_at, runs.c.run_id)
        )
        return self._load(conn, list(conn.execute(query).mappings()))

    def _load(self, conn: Connection, rows: Sequence[RowMapping]) -> list[AnyRun]:
        """Models for `rows`, with every team's members read from their child rows."""
        return build_runs(rows, self._descendants(conn, [r["run_id"] for r in rows]))

    def _descendants(self, conn: Connection, run_ids: Sequence[str]) -> dict[str, list[RowMapping]]:
        """Child rows of `run_ids` and of their children, by parent id, each list in start order."""
        runs = self._tables.runs
        children: dict[str, list[RowMapping]] = defaultdict(list)
        seen = set(run_ids)
        frontier = list(run_ids)
        while frontier:
            found: list[RowMapping] = []
            for chunk in _chunks(frontier):
                query = select(runs).where(runs.c.parent_run_id.in_(chunk))
                found += conn.execute(query).mappings()
            frontier = []
            for row in sorted(found, key=lambda r: (r["created_at"], r["run_id"])):
                if row["run_id"] not in seen:
                    seen.add(row["run_id"])
                    children[row["parent_run_id"]].append(row)
                    frontier.append(row["run_id"])
        return children


def _given(**values: Any) -> dict[str, Any]:
    """The values that are not None: what an update sets."""
    return {name: value for name, value in values.items() if value is not None}


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _already_exists(exc: sa_exc.DBAPIError) -> bool:
    """A lost race between processes creating the same table, index or schema."""
    text = str(exc.orig).lower()
    return "already exists" in text or ("duplicate key" in text and "pg_" in text)
