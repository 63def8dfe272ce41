"""What every kern database offers: the `BaseDb` interface, its records and its error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from kern.db.records import AnyRun
from kern.run.agent import RunOutput

SessionType = Literal["agent", "team"]


class DatabaseError(RuntimeError):
    """The database can't be used: bad configuration, unreachable server, or a failed statement."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        """Whether the same call may succeed later: the database is down, slow, locked, read-only or full,
        as opposed to a statement it can never accept."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self),), {"transient": self.transient})


class SessionRecord(BaseModel):
    """A session and its top-level runs (members nested inside their team runs), in start order."""

    session_id: str
    session_type: SessionType
    component_id: str
    """The agent's or team's id."""
    user_id: str | None = None
    session_name: str | None = None
    session_state: dict[str, Any] | None = None
    """The state the session's latest saved run left (or `update_session` set)."""
    created_at: float
    updated_at: float
    runs: list[AnyRun] = Field(default_factory=list)


class BaseDb:
    """Runs and sessions; subclasses say where they are kept (`SqlDb`: SQLite, PostgreSQL; `InMemoryDb`).

    A db is pickled into the Ray actors that run its components, so it carries only its configuration.
    Every method is synchronous and thread-safe, and raises `DatabaseError` when the database fails.
    """

    @property
    def description(self) -> str:
        """What errors call this database, e.g. "SQLite database /path/kern.db"."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        """What a pickled copy carries: the configuration only."""
        return dict(self.__dict__)

    @property
    def key(self) -> str:
        """The configuration: two instances with the same key are the same database."""
        return f"{type(self).__module__}.{type(self).__qualname__}{sorted(self.__getstate__().items())!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description})"

    def attach(self) -> None:
        """Make the database reachable from every process; called in the driver before replicas start."""

    def close(self) -> None:
        """Release what this process holds open (connections); the next call opens them again."""

    # ----- runs -----------------------------------------------------------------------------------

    def save_run(self, run: RunOutput) -> None:
        """Insert or update a run (by run_id), its members as rows of their own, and touch its session.

        A team run's `member_responses` are stored as separate rows whose `parent_run_id` is the team
        run's id (recursively); saving a member on its own before or after its team gives the same
        result. A run that reached a terminal status is not turned back by a later non-terminal save.
        Only top-level runs (no `parent_run_id`) with a `session_id` create or touch a session row,
        whose type and component id are those of its first run. Such a run's `session_state`, when not
        None, becomes the session's: the last save wins, even a late save of a run that started earlier.
        """
        raise NotImplementedError

    def save_runs(self, runs: Sequence[RunOutput]) -> None:
        """`save_run` for each run (distinct run ids), all in one transaction; for one session, the last
        run in `runs` with a `session_state` sets it."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> AnyRun | None:
        """A run by id (a team run with its members), or None."""
        raise NotImplementedError

    def get_history(
        self, session_id: str, component_id: str | None, num_runs: int, *, top_level: bool = True
    ) -> list[AnyRun]:
        """The last `num_runs` completed runs of that session and component, oldest first: top-level
        runs, or with `top_level=False` runs at any depth (a member's runs inside its team's).

        `component_id=None` takes runs of any component.
        """
        raise NotImplementedError

    # ----- sessions -------------------------------------------------------------------------------

    def get_session(self, session_id: str) -> SessionRecord | None:
        """A session with its top-level runs in start order, or None."""
        raise NotImplementedError

    def get_sessions(
        self,
        session_type: SessionType | None = None,
        component_id: str | None = None,
        user_id: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Sessions matching every filter given, most recently updated first.

        This is a list view: each record's `runs` is left empty (use `get_session` for the runs).
        """
        raise NotImplementedError

    def get_session_runs(self, session_id: str) -> list[AnyRun]:
        """The session's top-level runs (members nested in their teams), in start order."""
        raise NotImplementedError

    def get_session_state(self, session_id: str) -> dict[str, Any] | None:
        """The session's state (no runs are read); None if it has none or there is no such session."""
        raise NotImplementedError

    def update_session(
        self,
        session_id: str,
        *,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> bool:
        """Set the session's name and/or state (None leaves it as it is; `{}` empties the state).

        Returns False, changing nothing, if there is no such session (see `upsert_session`).
        """
        raise NotImplementedError

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
        """Create the session if it is not there yet (with no runs), then set the name and state given
        as `update_session` does. An existing session keeps its type, component and user."""
        raise NotImplementedError

    def delete_session(self, session_id: str) -> bool:
        """Delete a session, its runs and their members' runs; whether anything was there."""
        raise NotImplementedError
