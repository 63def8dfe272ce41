"""Response bodies of the AgentOS routes, besides run records (`RunOutput` / `TeamRunOutput`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kern.db import SessionRecord
from kern.specs import ComponentSpec, TeamSpec


class Health(BaseModel):
    """The server is up."""

    status: Literal["ok"] = "ok"


class ComponentRef(BaseModel):
    """An agent or team by id and name."""

    id: str
    name: str


class MemberRef(ComponentRef):
    """A team member: an agent or a nested team."""

    kind: Literal["agent", "team"]


class OSConfig(BaseModel):
    """What this AgentOS serves."""

    agents: list[ComponentRef]
    teams: list[ComponentRef]
    db_configured: bool
    """Whether sessions and runs can be read back (`/sessions`, `GET .../runs/{run_id}`)."""


class AgentInfo(BaseModel):
    """An agent as `GET /agents` describes it."""

    id: str
    name: str
    description: str | None = None
    instructions: str | list[str] | None = None
    model: str
    """The model id, e.g. "gpt-5.2"."""
    tools: list[str] = Field(default_factory=list)
    """Names of the agent's tools."""


class TeamInfo(AgentInfo):
    """A team as `GET /teams` describes it: an agent-like leader plus its members and mode."""

    members: list[MemberRef]
    mode: Literal["coordinate", "route", "broadcast", "tasks"]
    respond_directly: bool
    delegate_to_all_members: bool
    stream_member_events: bool


class CancelResult(BaseModel):
    """The answer of a cancel route."""

    run_id: str
    cancelled: bool
    """True if the run was in flight (or pending) and is now being cancelled."""


class SessionSummary(SessionRecord):
    """A session in the `GET /sessions` list (its runs are at `GET /sessions/{session_id}/runs`)."""

    runs: list[Any] = Field(default_factory=list, exclude=True)


def agent_info(spec: ComponentSpec) -> AgentInfo:
    """The public description of an agent (never its model's credentials)."""
    return AgentInfo(**_common(spec))


def team_info(spec: TeamSpec) -> TeamInfo:
    """The public description of a team, its members and its mode."""
    return TeamInfo(
        **_common(spec),
        members=[MemberRef(id=m.id, name=m.name, kind=m.kind) for m in spec.members],
        mode=spec.mode,
        respond_directly=spec.respond_directly,
        delegate_to_all_members=spec.delegate_to_all_members,
        stream_member_events=spec.stream_member_events,
    )


def _common(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "description": spec.description,
        "instructions": spec.instructions,
        "model": spec.model.id,
        "tools": [tool.name for tool in spec.tools],
    }


class ErrorDetail(BaseModel):
    """Every error answer: one sentence naming the problem, or FastAPI's list of invalid fields."""

    detail: str | list[dict[str, Any]]


_ANSWERS = {
    404: "No such agent, team, run or session here, or not of the given session or user",
    409: "The client-chosen run id is taken: a run id is used once",
    413: "The request body is larger than the cap (KERN_MAX_REQUEST_BYTES, 1 MiB by default)",
    415: "The body is neither form fields nor a JSON object",
    422: "An invalid field, id, or JSON body (too deep, a huge integer, not UTF-8)",
    500: "The run failed in this server (the server log has the details)",
    503: "kern's supervisor, the component's actor or the database cannot be reached; retry",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for the OpenAPI document."""
    return {code: {"model": ErrorDetail, "description": _ANSWERS[code]} for code in codes}
