"""The bodies of the `/sessions` routes, as Agno 3.1.10's AgentOS shapes them (`agno.os.schema`), and how
kern's session and run records fill them.

Fields that need a feature kern does not have (workflows, summaries, session metadata, reasoning,
knowledge, media, forks) take the value AgentOS gives when it is off: null, or Agno's empty value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kern.db import SessionRecord
from kern.db.base import TokenUsage
from kern.db.records import AnyRun
from kern.os.limits import ID_PATTERN
from kern.run.team import TeamRunOutput
from kern.specs import ComponentSpec

AgnoSessionType = Literal["agent", "team", "workflow"]
"""Agno's session types; kern has no workflow sessions."""
AGNO_RUN_STATUSES = ("PENDING", "RUNNING", "PAUSED", "COMPLETED", "CANCELLED", "ERROR", "REGENERATED")
"""The statuses Agno's run filters take (kern's runs are never REGENERATED)."""
PREVIEW_CHARS = 280
"""Agno's length of a run preview's input and content."""


class SessionSchema(BaseModel):
    """A session in the `GET /sessions` list (Agno's `SessionSchema`)."""

    session_id: str
    session_name: str
    """The name set, else the first user message of the session's first run, else "" (as Agno)."""
    session_state: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    session_type: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    """Always null: kern has no workflows."""
    session_summary: dict[str, Any] | None = None
    """Always null: kern makes no session summaries."""
    metrics: dict[str, Any] | None = None
    """The tokens of all its runs (members' included), counts of 0 left out; null with no runs."""
    total_tokens: int | None = None
    metadata: dict[str, Any] | None = None
    """Always null: kern keeps no session metadata."""


class PaginationInfo(BaseModel):
    """Agno's paging block."""

    page: int
    """1-based."""
    limit: int
    total_pages: int
    total_count: int
    search_time_ms: float
    """How long the database took for the page and the count."""


class SessionPage(BaseModel):
    """One page of sessions (Agno's `PaginatedResponse[SessionSchema]`)."""

    data: list[SessionSchema]
    meta: PaginationInfo


class AgentSessionDetailSchema(BaseModel):
    """An agent session (Agno's `AgentSessionDetailSchema`)."""

    user_id: str | None = None
    agent_session_id: str
    session_id: str
    session_name: str
    session_summary: dict[str, Any] | None = None
    session_state: dict[str, Any] | None = None
    agent_id: str | None = None
    total_tokens: int | None = None
    agent_data: dict[str, Any] | None = None
    """The agent's name, id and model, once the session has runs and while this AgentOS serves it."""
    metrics: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    chat_history: list[dict[str, Any]] | None = None
    """The user and assistant messages of its top-level runs, in order (as Agno's)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TeamSessionDetailSchema(BaseModel):
    """A team session (Agno's `TeamSessionDetailSchema`)."""

    session_id: str
    session_name: str
    user_id: str | None = None
    team_id: str | None = None
    session_summary: dict[str, Any] | None = None
    session_state: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    team_data: dict[str, Any] | None = None
    """The team's name, id and model, once the session has runs and while this AgentOS serves it."""
    metadata: dict[str, Any] | None = None
    chat_history: list[dict[str, Any]] | None = None
    """The team's user and assistant messages (not its members'), in order (as Agno's)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    total_tokens: int | None = None


SessionDetail = AgentSessionDetailSchema | TeamSessionDetailSchema


class _RunFields(BaseModel):
    """What Agno's `RunSchema` and `TeamRunSchema` share."""

    run_id: str
    parent_run_id: str | None = None
    """The team run's id for a member's run; an empty string for a top-level run (as Agno answers)."""
    status: str | None = None
    cancellation_stage: str | None = None
    run_input: str | None = None
    content: str | dict[str, Any] | None = None
    run_response_format: str | None = None
    """`text`, or `json` for structured output."""
    reasoning_content: str | None = None
    reasoning_steps: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    events: list[dict[str, Any]] | None = None
    """The run's events, when it stored them (`store_events`)."""
    created_at: datetime | None = None
    references: list[dict[str, Any]] | None = None
    citations: dict[str, Any] | None = None
    reasoning_messages: list[dict[str, Any]] | None = None
    session_state: dict[str, Any] | None = None
    images: list[dict[str, Any]] | None = None
    videos: list[dict[str, Any]] | None = None
    audio: list[dict[str, Any]] | None = None
    files: list[dict[str, Any]] | None = None
    response_audio: dict[str, Any] | None = None
    input_media: dict[str, Any] | None = None
    followups: list[str] | None = None
    forked_from_run_id: str | None = None
    forked_from_message_index: int | None = None
    forked_from_session_id: str | None = None
    regenerated_from: str | None = None
    last_checkpoint_at_message_index: int | None = None


class RunSchema(_RunFields):
    """An agent run (Agno's `RunSchema`); in a team session, a member's run (`parent_run_id` set)."""

    agent_id: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] | None = None


class TeamRunSchema(_RunFields):
    """A team run (Agno's `TeamRunSchema`); its members' runs are runs of their own in the list."""

    team_id: str | None = None
    user_id: str | None = None


AnyRunSchema = RunSchema | TeamRunSchema


class SessionRunPreviewSchema(BaseModel):
    """A run in short (Agno's `SessionRunPreviewSchema`): input and content cut to 280 characters."""

    run_id: str
    parent_run_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    user_id: str | None = None
    status: str | None = None
    run_input: str | None = None
    content_preview: str | None = None
    created_at: datetime | None = None


class CreateSessionRequest(BaseModel):
    """The body of `POST /sessions` (Agno's `CreateSessionRequest`); the `type` query parameter says
    which of `agent_id` / `team_id` is the session's. kern refuses `metadata` and `workflow_id` (400)."""

    session_id: str | None = Field(default=None, pattern=ID_PATTERN)
    """A new random id when absent."""
    session_name: str | None = None
    session_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    user_id: str | None = Field(default=None, pattern=ID_PATTERN)
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    """Absent: the session's first run says whose it is."""
    team_id: str | None = Field(default=None, pattern=ID_PATTERN)
    workflow_id: str | None = None


class UpdateSessionRequest(BaseModel):
    """The body of `PATCH /sessions/{session_id}` (Agno's `UpdateSessionRequest`): what is given (not
    null) is set, the state replaced whole. kern refuses `metadata` and `summary` (400)."""

    session_name: str | None = None
    session_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None


class RenameSessionRequest(BaseModel):
    """The body of `POST /sessions/{session_id}/rename`."""

    session_name: str


class DeleteSessionRequest(BaseModel):
    """The body of `DELETE /sessions` (Agno's `DeleteSessionRequest`): as many types as ids (the types
    are checked, then not used: an id names one session)."""

    session_ids: list[str] = Field(min_length=1)
    session_types: list[AgnoSessionType] = Field(min_length=1)


# ----- filling them from kern's records ----------------------------------------------------------------

_FEATURES_OFF: dict[str, Any] = {
    "reasoning_content": "",
    "reasoning_steps": [],
    "references": [],
    "reasoning_messages": [],
    "images": [],
    "videos": [],
    "audio": [],
    "files": [],
    "input_media": {"images": [], "videos": [], "audios": [], "files": []},
}
"""What Agno's run schemas give a run without reasoning, knowledge or media."""


def session_item(record: SessionRecord) -> SessionSchema:
    """A session in the list."""
    metrics = _metrics(record.usage)
    return SessionSchema(
        session_id=record.session_id,
        session_name=session_name(record),
        session_state=record.session_state,
        created_at=_utc(record.created_at),
        updated_at=_utc(record.updated_at),
        session_type=record.session_type,
        user_id=record.user_id,
        **_component_field(record),
        metrics=metrics,
        total_tokens=metrics.get("total_tokens") if metrics else None,
    )


def session_detail(record: SessionRecord, component: ComponentSpec | None) -> SessionDetail:
    """A session read with its runs; `component` is its agent or team when this AgentOS serves it."""
    metrics = _metrics(record.usage)
    if metrics is None and (record.session_state is not None or record.session_name is not None):
        metrics = {}  # (Agno's: a session with data but no runs has empty metrics)
    component_data = _component_data(component) if record.runs and component is not None else None
    common: dict[str, Any] = {
        "session_id": record.session_id,
        "session_name": session_name(record),
        "user_id": record.user_id,
        "session_state": record.session_state,
        "total_tokens": metrics.get("total_tokens") if metrics else None,
        "metrics": metrics,
        "chat_history": _chat_history(record.runs),
        "created_at": _utc(record.created_at),
        "updated_at": _utc(record.updated_at),
        **_component_field(record),
    }
    if record.session_type == "team":
        return TeamSessionDetailSchema(**common, team_data=component_data)
    return AgentSessionDetailSchema(**common, agent_session_id=record.session_id, agent_data=component_data)


def session_name(record: SessionRecord) -> str:
    """Agno's session name: the name set; else the first user message (with text) of the session's
    first top-level run, else that run's input; else ""."""
    if record.session_name is not None:
        return record.session_name
    first = record.first_run or (record.runs[0] if record.runs else None)
    if first is None:
        return ""
    return next((m.content for m in first.messages if m.role == "user" and m.content), first.input)


def run_schema(run: AnyRun) -> AnyRunSchema:
    """A run as the session routes answer it (Agno's `RunSchema.from_dict` / `TeamRunSchema.from_dict`
    of the run's `to_dict()`); a team run's members are left out."""
    data = run.to_dict()
    common: dict[str, Any] = {
        **_FEATURES_OFF,
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id or "",
        "status": data.get("status"),
        "run_input": run.input,
        "content": data.get("content", ""),
        "run_response_format": "text" if data.get("content_type", "str") == "str" else "json",
        "metrics": data.get("metrics", {}),
        "messages": data.get("messages") or None,
        "tools": data.get("tools") or None,
        "events": data.get("events") or None,
        "created_at": _utc(run.created_at),
        "session_state": data.get("session_state"),
    }
    if isinstance(run, TeamRunOutput):
        return TeamRunSchema(**common, team_id=run.team_id, user_id=run.user_id)
    return RunSchema(**common, agent_id=run.agent_id, user_id=run.user_id or "")


def run_preview(run: AnyRunSchema) -> SessionRunPreviewSchema:
    """A run in short (Agno's `SessionRunPreviewSchema.from_run`)."""
    return SessionRunPreviewSchema(
        run_id=run.run_id,
        parent_run_id=run.parent_run_id,
        agent_id=run.agent_id if isinstance(run, RunSchema) else None,
        team_id=run.team_id if isinstance(run, TeamRunSchema) else None,
        user_id=run.user_id,
        status=run.status,
        run_input=_preview(run.run_input),
        content_preview=_preview(run.content),
        created_at=run.created_at,
    )


def _utc(timestamp: float) -> datetime:
    """Whole seconds, as Agno keeps them."""
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def _component_field(record: SessionRecord) -> dict[str, Any]:
    """`agent_id` or `team_id`: the session's component (None for one created without)."""
    return {f"{record.session_type}_id": record.component_id or None}


def _component_data(spec: ComponentSpec) -> dict[str, Any]:
    """Agno's `agent_data` / `team_data`: the name, the id and the model (`Model.to_dict()`)."""
    model = spec.model
    described = {"name": getattr(model, "name", None) or type(model).__name__, "id": model.id}
    if model.provider is not None:
        described["provider"] = model.provider
    return {"name": spec.name, f"{spec.kind}_id": spec.id, "model": described}


def _metrics(usage: TokenUsage | None) -> dict[str, Any] | None:
    """Agno's session metrics: the token sums, counts of 0 left out."""
    return None if usage is None else {name: count for name, count in usage.model_dump().items() if count}


def _chat_history(runs: list[AnyRun]) -> list[dict[str, Any]]:
    """Agno's `get_chat_history()`: the messages of every top-level run (any status) but system and tool
    messages and those a run was given as history."""
    return [
        message
        for run in runs
        for message in run.to_dict().get("messages", [])
        if message.get("role") not in ("system", "tool") and not message.get("from_history")
    ]


def _preview(value: Any) -> str | None:
    """Text cut to `PREVIEW_CHARS`, structured content as JSON first (as Agno's)."""
    if value is None:
        return None
    return (value if isinstance(value, str) else json.dumps(value, default=str))[:PREVIEW_CHARS]
