"""`AgentOS`: the agents and teams an HTTP server exposes, by id, and the database it reads back from."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from kern.agent import Agent
from kern.agno_options import refuse
from kern.component import Component
from kern.db import BaseDb
from kern.db.sql import SqlDb
from kern.db.tables import DEFAULT_SESSION_TABLE
from kern.specs import ComponentSpec, TeamSpec
from kern.team import Team

if TYPE_CHECKING:
    from fastapi import FastAPI

Kind = Literal["agent", "team"]
RouteConflict = Literal["preserve_agentos", "preserve_base_app", "error"]
C = TypeVar("C", bound=Component)


class ComponentNotFound(LookupError):
    """No agent or team with that id is served here."""

    def __init__(self, kind: Kind, component_id: str, known: Iterable[str]) -> None:
        known_ids = ", ".join(sorted(known)) or "none"
        super().__init__(f"{kind} {component_id!r} not found (known {kind}s: {known_ids})")


class AgentOS:
    """Agents and teams served over HTTP, as Agno 3.1.10's `AgentOS` (its arguments by keyword).

    `id` defaults as Agno's: a UUID derived from `name`, else a random one. Component ids are the
    components' ids (slugs of their names unless given). When `db` is given, every component without a
    db of its own (members included) stores its runs there; the session and run read routes use `db`,
    else the first component db found. `base_app`: a FastAPI app the routes are added to (its own routes
    kept; on a clash `on_route_conflict` decides, as in Agno). `lifespan`: the app's lifespan (given
    `agent_os=self` if it takes that argument). `cors_allowed_origins`: the browser origins allowed
    (`kern.os.cors`). `telemetry` is taken and does nothing: kern sends no telemetry. Agno's other
    arguments (workflows, knowledge, interfaces, MCP, JWT authorization, tracing, scheduler...) raise
    NotImplementedError.
    """

    def __init__(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        db: BaseDb | None = None,
        agents: Sequence[Agent] | None = None,
        teams: Sequence[Team] | None = None,
        cors_allowed_origins: list[str] | None = None,
        lifespan: Any | None = None,
        base_app: FastAPI | None = None,
        on_route_conflict: RouteConflict = "preserve_agentos",
        telemetry: bool = True,
        **agno_options: Any,
    ) -> None:
        refuse("AgentOS", agno_options)
        if not agents and not teams and db is None:
            raise ValueError("Either agents, teams or a database must be provided.")
        if on_route_conflict not in ("preserve_agentos", "preserve_base_app", "error"):
            raise ValueError(f"AgentOS(on_route_conflict={on_route_conflict!r}) is not a known policy")
        self.id: str = id or (str(uuid.uuid5(uuid.NAMESPACE_DNS, name)) if name else str(uuid.uuid4()))
        self.name = name
        self.description = description
        self.version = version
        self.cors_allowed_origins = cors_allowed_origins
        self.lifespan = lifespan
        self.base_app = base_app
        self.on_route_conflict: RouteConflict = on_route_conflict
        self.telemetry = telemetry
        self.agents: dict[str, Agent] = _by_id("agent", Agent, agents or [])
        self.teams: dict[str, Team] = _by_id("team", Team, teams or [])
        self.given_db = db
        """The db given to the AgentOS itself (Agno's `os_database`)."""
        if db is not None:
            for component in self.components():
                _give_db(component.spec, db)
        self.db: BaseDb | None = db or next(
            (c.spec.db for c in self.components() if c.spec.db is not None), None
        )
        self.dbs: dict[str, BaseDb] = {
            db_id(each): each for each in [*(c.spec.db for c in self.components()), db] if each is not None
        }
        """The databases of the agents, teams and the AgentOS, by id (Agno's `dbs`)."""

    def components(self) -> list[Component]:
        """Agents, then teams."""
        return [*self.agents.values(), *self.teams.values()]

    def get(self, kind: Kind, component_id: str) -> Component:
        """The agent or team with this id; `ComponentNotFound` names the known ids otherwise."""
        table: dict[str, Agent] | dict[str, Team] = self.agents if kind == "agent" else self.teams
        component = table.get(component_id)
        if component is None:
            raise ComponentNotFound(kind, component_id, table)
        return component

    def get_app(self) -> FastAPI:
        """The FastAPI app serving these components (`base_app` with the routes added, if given)."""
        from kern.os.app import create_app

        return create_app(self)

    def serve(
        self,
        app: str | FastAPI,
        *,
        host: str = "localhost",
        port: int = 7777,
        reload: bool = False,
        **uvicorn_options: Any,
    ) -> None:
        """Serve `app` ("module:attr" of an app, or the app) with uvicorn until interrupted, as Agno's
        `serve` (`AGENT_OS_HOST` / `AGENT_OS_PORT` override `host` / `port`)."""
        from kern.os.serve import serve_app

        host = os.environ.get("AGENT_OS_HOST", host)
        port = int(os.environ.get("AGENT_OS_PORT", port))
        serve_app(app, host=host, port=port, reload=reload, **uvicorn_options)


def db_id(db: BaseDb) -> str:
    """A database's id in the AgentOS routes: a UUID derived from its configuration, so every server
    process on the same database gives it the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, db.key))


def session_table(db: BaseDb) -> str:
    """The name of the table a database keeps sessions in."""
    return db.session_table if isinstance(db, SqlDb) else DEFAULT_SESSION_TABLE


def _by_id(kind: Kind, cls: type[C], components: Sequence[C]) -> dict[str, C]:
    wrong = [c for c in components if not isinstance(c, cls)]
    if wrong:
        raise TypeError(f"AgentOS {kind}s must be {cls.__name__} objects, got {wrong!r}")
    ids = [c.id for c in components]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"AgentOS {kind} ids must be distinct; repeated: {repeated}")
    return {c.id: c for c in components}


def _give_db(spec: ComponentSpec, db: BaseDb) -> None:
    """Set `db` on a spec (and its members') that has none; it applies to every later run."""
    if spec.db is None:
        spec.db = db
    if isinstance(spec, TeamSpec):
        for member in spec.members:
            _give_db(member, db)
