"""`AgentOS`: the agents and teams an HTTP server exposes, by id, and the database it reads back from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from kern.agent import Agent
from kern.component import Component
from kern.db import BaseDb
from kern.specs import ComponentSpec, TeamSpec
from kern.team import Team

if TYPE_CHECKING:
    from fastapi import FastAPI

Kind = Literal["agent", "team"]
C = TypeVar("C", bound=Component)


class ComponentNotFound(LookupError):
    """No agent or team with that id is served here."""

    def __init__(self, kind: Kind, component_id: str, known: Iterable[str]) -> None:
        known_ids = ", ".join(sorted(known)) or "none"
        super().__init__(f"{kind} {component_id!r} not found (known {kind}s: {known_ids})")


class AgentOS:
    """Agents and teams served over HTTP (Agno's `AgentOS`).

    Ids are the components' ids (slugs of their names unless given). When `db` is given, every
    component without a db of its own (members included) stores its runs there; the session and
    run read routes use `db`, else the first component db found.
    """

    def __init__(
        self,
        agents: Sequence[Agent] | None = None,
        teams: Sequence[Team] | None = None,
        db: BaseDb | None = None,
    ) -> None:
        self.agents: dict[str, Agent] = _by_id("agent", Agent, agents or [])
        self.teams: dict[str, Team] = _by_id("team", Team, teams or [])
        if db is not None:
            for component in self.components():
                _give_db(component.spec, db)
        self.db: BaseDb | None = db or next(
            (c.spec.db for c in self.components() if c.spec.db is not None), None
        )

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
        """The FastAPI app serving these components."""
        from kern.os.app import create_app

        return create_app(self)


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
