"""What every kern database offers: the `BaseDb` interface, its records and its error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from kern.db.records import AnyRun
from kern.run.agent import RunOutput

SessionType = Literal["agent", "team"]
SessionSortField = Literal[
    "created_at", "updated_at", "session_id", "session_type", "user_id", "agent_id", "team_id", "session_name"
]
"""What `get_sessions` sorts by: Agno's session columns kern has, and the session's name."""
SortOrder = Literal["asc", "desc"]


class DatabaseError(RuntimeError):
    """The database can't be used: bad configuration, unreachable server, or a failed statement."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        """Whether the same call may succeed later: the database is down, slow, locked, read-only or full,
        as opposed to a statement it can never accept."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self),), {"transient": self.transient})


class TokenUsage(BaseModel):
    """The tokens a session's runs used, summed over all of them (members' runs included)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class SessionRecord(BaseModel):
    """A session and its top-level runs (members nested inside their team runs), in start order."""

    session_id: str
    session_type: SessionType
    component_id: str
    """The agent's or team's id; "" for a session created empty without one (its first run sets it)."""
    user_id: str | None = None
    session_name: str | None = None
    session_state: dict[str, Any] | None = None
    """The state the session's latest saved run left (or `update_session` set)."""
    created_at: float
    updated_at: float
    runs: list[AnyRun] = Field(default_factory=list)
    usage: TokenUsage | None = None
    """The tokens of all its runs; None when it has none (`get_session` and `get_sessions` fill it)."""
    first_run: AnyRun | None = None
    """`get_sessions` only, for a session with no name: its first top-level run, without members."""


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
        whose type and component id are those of its first run (also for a session `create_session`
        made with no component). Such a run's `session_state`, when not
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

    def get_session(self, session_id: str, *, with_runs: bool = True) -> SessionRecord | None:
        """A session with its top-level runs in start order and its `usage`, or None; with
        `with_runs=False`, the session alone (no runs read, `usage` None)."""
        raise NotImplementedError

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
        """One page (1-based, `limit` a page) of the sessions matching every filter given, sorted by
        `sort_by` (then by session id, in the same order; NULLs last). `session_name` matches the names
        that contain it, ignoring case (as Agno's; a session with no name set does not match).

        This is a list view: each record's `runs` is left empty (use `get_session` for the runs); its
        `usage` and, when it has no name, its `first_run` are filled.
        """
        raise NotImplementedError

    def count_sessions(
        self,
        session_type: SessionType | None = None,
        component_id: str | None = None,
        user_id: str | None = None,
        *,
        session_name: str | None = None,
    ) -> int:
        """How many sessions `get_sessions` finds with these filters, over all pages."""
        raise NotImplementedError

    def get_session_runs(self, session_id: str) -> list[AnyRun]:
        """The session's top-level runs (members nested in their teams), in start order."""
        raise NotImplementedError

    def list_runs(
        self,
        session_id: str,
        *,
        created_after: int | None = None,
        created_before: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[AnyRun]:
        """Every run of the session at any depth, each on its own (a team run without its members, who
        are in the list too), in start order; those started within `created_after` and
        `created_before` (Unix seconds, both included: a run started at 10.7 counts as started at 10,
        as Agno's whole-second timestamps) whose status is one of `statuses` (stored names, e.g.
        "COMPLETED"), for the filters given."""
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
        """Create an empty session; False, changing nothing, if the id is taken (any user's).

        With `component_id` "", the session's first saved top-level run gives it its type and component.
        """
        raise NotImplementedError

    def delete_sessions(self, session_ids: Sequence[str], user_id: str | None = None) -> int:
        """Delete these sessions, their runs and their members' runs (with `user_id`, only the sessions
        of that user); how many were there. Ids that are not there are skipped."""
        raise NotImplementedError

    def delete_session(self, session_id: str) -> bool:
        """Delete a session, its runs and their members' runs; whether anything was there."""
        return self.delete_sessions([session_id]) > 0
