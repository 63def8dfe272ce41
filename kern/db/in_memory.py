"""Agno's `InMemoryDb`: runs and sessions kept in memory, in a Ray actor that every process reaches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

import ray
from ray.actor import ActorClass, ActorHandle
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError, RayTaskError

from kern.db.base import BaseDb, DatabaseError, SessionRecord, SessionSortField, SessionType, SortOrder
from kern.db.records import AnyRun
from kern.db.sql import error_cause
from kern.db.sqlite import SqliteDb
from kern.run.agent import RunOutput

TIMEOUT_SECONDS = 30.0
"""Default longest wait for the store's answer (its first answer includes starting its process)."""

_FORWARDED = frozenset(
    {
        "save_run",
        "save_runs",
        "get_run",
        "get_history",
        "get_session",
        "get_sessions",
        "count_sessions",
        "get_session_runs",
        "list_runs",
        "get_session_state",
        "update_session",
        "upsert_session",
        "create_session",
        "delete_sessions",
    }
)
"""The `BaseDb` methods the store's actor serves."""

_created: set[str] = set()
"""Stores this process has created: once gone, they are reported gone, never silently made anew."""


class InMemoryDb(BaseDb):
    """Runs and sessions in memory, as Agno's `InMemoryDb`, where every Ray actor can reach them.

    kern runs agents and teams in Ray actors, in other processes, so the data lives in a Ray actor of
    its own (`kern:db:memory:<uuid>` in kern's namespace, one per instance), holding an in-memory SQLite
    database (`SqliteDb`'s logic, on one connection). The actor belongs to the driver: `attach()`, or the
    driver's first call, creates it, and it ends with the driver, data and all (as Agno's `InMemoryDb`
    loses its data with its process). A pickled copy carries only the actor's name and finds the actor
    by it. Every call waits at most `timeout` seconds; a store that does not answer, or is gone, raises
    `DatabaseError`.
    """

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.actor_name = f"kern:db:memory:{uuid.uuid4().hex}"
        self.timeout = timeout
        self._handle: ActorHandle | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"actor_name": self.actor_name, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._handle = None

    @property
    def description(self) -> str:
        return f"in-memory database (Ray actor {self.actor_name})"

    def attach(self) -> None:
        """Create the store's actor (owned by this process: call it from the driver) and wait until it
        answers."""
        self._call("ready")

    # ----- BaseDb, forwarded to the actor ---------------------------------------------------------

    def save_run(self, run: RunOutput) -> None:
        self._call("save_run", run)

    def save_runs(self, runs: Sequence[RunOutput]) -> None:
        self._call("save_runs", list(runs))

    def get_run(self, run_id: str) -> AnyRun | None:
        return self._call("get_run", run_id)

    def get_history(
        self, session_id: str, component_id: str | None, num_runs: int, *, top_level: bool = True
    ) -> list[AnyRun]:
        return self._call("get_history", session_id, component_id, num_runs, top_level=top_level)

    def get_session(self, session_id: str, *, with_runs: bool = True) -> SessionRecord | None:
        return self._call("get_session", session_id, with_runs=with_runs)

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
        return self._call(
            "get_sessions",
            session_type,
            component_id,
            user_id,
            limit,
            session_name=session_name,
            page=page,
            sort_by=sort_by,
            sort_order=sort_order,
        )

    def count_sessions(
        self,
        session_type: SessionType | None = None,
        component_id: str | None = None,
        user_id: str | None = None,
        *,
        session_name: str | None = None,
    ) -> int:
        return self._call("count_sessions", session_type, component_id, user_id, session_name=session_name)

    def get_session_runs(self, session_id: str) -> list[AnyRun]:
        return self._call("get_session_runs", session_id)

    def list_runs(
        self,
        session_id: str,
        *,
        created_after: int | None = None,
        created_before: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[AnyRun]:
        return self._call(
            "list_runs",
            session_id,
            created_after=created_after,
            created_before=created_before,
            statuses=None if statuses is None else list(statuses),
        )

    def get_session_state(self, session_id: str) -> dict[str, Any] | None:
        return self._call("get_session_state", session_id)

    def update_session(
        self,
        session_id: str,
        *,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> bool:
        return self._call(
            "update_session", session_id, session_name=session_name, session_state=session_state
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
        self._call(
            "upsert_session",
            session_id,
            session_type,
            component_id,
            user_id,
            session_name=session_name,
            session_state=session_state,
        )

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
        return self._call(
            "create_session",
            session_id,
            session_type,
            component_id,
            user_id,
            session_name=session_name,
            session_state=session_state,
        )

    def delete_sessions(self, session_ids: Sequence[str], user_id: str | None = None) -> int:
        return self._call("delete_sessions", list(session_ids), user_id)

    # ----- the actor ------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The store's answer to `method(*args, **kwargs)`, waited for at most `timeout` seconds."""
        what = f"{method} failed on {self.description}:"
        try:
            answer: Any = ray.get(self._actor().call.remote(method, args, kwargs), timeout=self.timeout)
        except GetTimeoutError:
            raise DatabaseError(f"{what} no answer within {self.timeout:g} s", transient=True) from None
        except ActorUnavailableError as exc:
            raise DatabaseError(f"{what} {_first_line(exc)}", transient=True) from exc
        except RayActorError as exc:
            raise DatabaseError(f"{what} it is gone (killed, or its driver exited), data and all") from exc
        except RayTaskError as exc:
            raise DatabaseError(f"{what} {error_cause(exc.cause)}") from exc
        except RayError as exc:
            raise DatabaseError(f"{what} {_first_line(exc)}", transient=True) from exc
        if isinstance(answer, DatabaseError):
            raise answer
        return answer

    def _actor(self) -> ActorHandle:
        """The store's actor: created by the driver on first use, looked up by name elsewhere."""
        if self._handle is not None:
            return self._handle
        from actors import runtime  # kern's namespace (actors imports kern.db: not at module level)

        handle: ActorHandle
        if self.actor_name not in _created and _is_driver():
            runtime.ensure_ray()
            _created.add(self.actor_name)
            options = {"name": self.actor_name, "namespace": runtime.NAMESPACE, "get_if_exists": True}
            store = _store_class().options(num_cpus=0, **options)
            handle = store.remote(self.description)  # type: ignore[assignment]
        else:
            try:
                handle = ray.get_actor(self.actor_name, namespace=runtime.NAMESPACE)
            except ValueError:
                raise DatabaseError(
                    f"{self.description} is gone: its driver exited, it was killed, or it was never "
                    "created (call attach() from the driver first)"
                ) from None
        self._handle = handle
        return handle


class _MemorySqliteDb(SqliteDb):
    """An in-memory SQLite database that names itself as the `InMemoryDb` it serves in errors."""

    def __init__(self, description: str) -> None:
        super().__init__(":memory:")
        self._description = description

    @property
    def description(self) -> str:
        return self._description


class _Store:
    """The actor's body: one in-memory SQLite database, serving one call at a time."""

    def __init__(self, description: str) -> None:
        self._db = _MemorySqliteDb(description)

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """`method`'s result, or the DatabaseError it raised (returned: raised again by the caller);
        "ready" just answers."""
        if method == "ready":
            return None
        if method not in _FORWARDED:
            raise ValueError(f"{method!r} is not a database method")
        try:
            return getattr(self._db, method)(*args, **kwargs)
        except DatabaseError as exc:
            return exc


@cache
def _store_class() -> ActorClass:
    return ray.remote(_Store)


def _is_driver() -> bool:
    """Whether this process is a Ray driver (or not connected yet), not one of Ray's workers."""
    return not ray.is_initialized() or ray.get_runtime_context().worker.mode == ray.SCRIPT_MODE


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0] or type(exc).__name__
