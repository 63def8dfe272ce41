"""Response bodies of the AgentOS routes, besides run records and the config (`kern.os.config`).

Agents and teams are described as Agno 3.1.10's `AgentResponse` / `TeamResponse`, filled from kern's
specs as Agno fills them (`AgentResponse.from_agent`, `TeamResponse.from_team`): each settings block keeps
only what differs from Agno's defaults and is left out when nothing does; blocks of features kern does
not have (knowledge, memory, extra messages, parser models...) are left out, as Agno leaves them out when
those are off. A model's credentials are never part of it. The `streaming` block shows a team's
`stream_member_events`; an object's `stream` / `stream_events` (the defaults of its `run()`) are not part
of its spec and not shown.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from kern.engine.default_tools import update_session_state_tool
from kern.engine.team import leader_tools
from kern.os.agentos import db_id, session_table
from kern.specs import AgentSpec, ComponentSpec, TeamSpec
from kern.tools import Function


class HealthResponse(BaseModel):
    """The server is up (Agno's `HealthResponse`)."""

    status: str = "ok"
    instantiated_at: datetime
    """When the app was built (`AgentOS.get_app()`)."""


class CancelResult(BaseModel):
    """The answer of a cancel route."""

    run_id: str
    cancelled: bool
    """True if the run was in flight (or pending) and is now being cancelled."""


class ErrorDetail(BaseModel):
    """Every error answer: one sentence naming the problem, or FastAPI's list of invalid fields."""

    detail: str | list[dict[str, Any]]


_ANSWERS = {
    400: "An Agno field kern does not support yet asks for something (files, version, background...)",
    404: "No such agent, team, run or session here, or not of the given session or user",
    409: "The client-chosen run id is taken: a run id is used once",
    413: "The request body is larger than the cap (KERN_MAX_REQUEST_BYTES, 1 MiB by default)",
    415: "The body is neither form fields nor a JSON object",
    422: "An invalid field, id, or JSON body (too deep, a huge integer, not UTF-8)",
    429: "The agent or team has as many runs in flight and waiting as its admission allows: retry after "
    "the `Retry-After` header's seconds",
    500: "The run failed in this server (the server log has the details)",
    503: "kern's supervisor, the component's actor or the database cannot be reached; retry",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for the OpenAPI document."""
    return {code: {"model": ErrorDetail, "description": _ANSWERS[code]} for code in codes}


AGENT_DEFAULTS: dict[str, Any] = {
    "add_history_to_context": False,
    "num_history_runs": 3,
    "read_chat_history": False,
    "system_message_role": "system",
    "build_context": True,
    "markdown": False,
    "add_name_to_context": False,
    "add_datetime_to_context": False,
    "resolve_in_context": True,
    "retries": 0,
    "delay_between_retries": 1,
    "exponential_backoff": False,
    "use_json_mode": False,
    "stream_events": False,
}
"""Agno's `agent_defaults`: a setting with this value is left out of its block (kern's subset)."""
TEAM_DEFAULTS: dict[str, Any] = {
    **AGENT_DEFAULTS,
    "get_member_information_tool": False,
    "stream_member_events": False,
}
"""Agno's `team_defaults` (kern's subset)."""


class WithoutNulls(BaseModel):
    """A body whose null fields are left out, as Agno's routes answer (`response_model_exclude_none`)."""

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler):
        # (no return annotation: the OpenAPI document keeps the model's fields)
        return {key: value for key, value in handler(self).items() if value is not None}


class ModelInfo(WithoutNulls):
    """A component's model (Agno's `ModelResponse`)."""

    name: str | None = None
    """The model's class, e.g. "OpenAIResponses"."""
    model: str | None = None
    """The model id, e.g. "gpt-5.2"."""
    provider: str | None = None


class ComponentInfo(WithoutNulls):
    """What agents and teams share in their description."""

    id: str | None = None
    name: str | None = None
    db_id: str | None = None
    description: str | None = None
    role: str | None = None
    model: ModelInfo | None = None
    tools: dict[str, Any] | None = None
    sessions: dict[str, Any] | None = None
    knowledge: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    default_tools: dict[str, Any] | None = None
    system_message: dict[str, Any] | None = None
    response_settings: dict[str, Any] | None = None
    introduction: str | None = None
    streaming: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    input_schema: dict[str, Any] | None = None
    is_factory: bool = False
    factory_input_schema: dict[str, Any] | None = None
    is_component: bool = False
    current_version: int | None = None
    stage: str | None = None
    sandboxed: bool = False


class AgentInfo(ComponentInfo):
    """An agent as `GET /agents` describes it (Agno's `AgentResponse`)."""

    filesystem: bool | None = None
    """False for an agent (kern gives agents no filesystem); absent for a team."""
    extra_messages: dict[str, Any] | None = None


class TeamInfo(AgentInfo):
    """A team as `GET /teams` describes it (Agno's `TeamResponse`), with kern's mode flags besides."""

    mode: Literal["coordinate", "route", "broadcast", "tasks"] | None = None
    members: list[AgentInfo | TeamInfo] | None = None
    respond_directly: bool
    delegate_to_all_members: bool
    stream_member_events: bool


def agent_info(spec: AgentSpec) -> AgentInfo:
    """An agent's description, as Agno's `AgentResponse.from_agent` makes it (a member's spec is the one
    its team runs: with the team's db and model when it had none)."""
    system_message = {
        **_system_message(spec),
        "add_name_to_context": spec.add_name_to_context,
        "timezone_identifier": spec.timezone_identifier,
    }
    response_settings = {
        "retries": spec.retries,
        "delay_between_retries": spec.delay_between_retries,
        "exponential_backoff": spec.exponential_backoff,
        **_response_settings(spec),
    }
    return AgentInfo(
        **_common(spec),
        filesystem=False,
        sessions=_meaningful(_sessions(spec), AGENT_DEFAULTS),
        default_tools=_meaningful({"read_chat_history": spec.read_chat_history}, AGENT_DEFAULTS),
        system_message=_meaningful(system_message, AGENT_DEFAULTS),
        response_settings=_meaningful(response_settings, AGENT_DEFAULTS),
    )


def team_info(spec: TeamSpec) -> TeamInfo:
    """A team's description and its members', as Agno's `TeamResponse.from_team` makes it."""
    default_tools = {
        "read_chat_history": spec.read_chat_history,
        "get_member_information_tool": spec.get_member_information_tool,
    }
    members = [team_info(m) if isinstance(m, TeamSpec) else agent_info(m) for m in spec.members]
    return TeamInfo(
        **_common(spec),
        mode=spec.mode,
        sessions=_meaningful(_sessions(spec), TEAM_DEFAULTS),
        default_tools=_meaningful(default_tools, TEAM_DEFAULTS),
        system_message=_meaningful(_system_message(spec), TEAM_DEFAULTS),
        response_settings=_meaningful(_response_settings(spec), TEAM_DEFAULTS),
        streaming=_meaningful({"stream_member_events": spec.stream_member_events}, TEAM_DEFAULTS),
        members=members or None,
        respond_directly=spec.respond_directly,
        delegate_to_all_members=spec.delegate_to_all_members,
        stream_member_events=spec.stream_member_events,
    )


def _common(spec: ComponentSpec) -> dict[str, Any]:
    """The fields agents and teams fill alike."""
    model = ModelInfo(name=type(spec.model).__name__, model=spec.model.id, provider=spec.model.provider)
    tools = {
        "tools": _tools(spec) or None,
        "tool_call_limit": spec.tool_call_limit,
        "tool_choice": spec.tool_choice,
    }
    return {
        "id": spec.id,
        "name": spec.name,
        "db_id": db_id(spec.db) if spec.db is not None else None,
        "description": spec.description,
        "role": spec.role,
        "model": model,
        "tools": _meaningful(tools, {}),
        "reasoning": {"reasoning": False},
        "introduction": spec.introduction,
        "metadata": spec.metadata,
        "input_schema": spec.input_schema.model_json_schema() if spec.input_schema is not None else None,
    }


def _sessions(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "session_table": session_table(spec.db) if spec.db is not None else None,
        "add_history_to_context": spec.add_history_to_context,
        "num_history_runs": spec.num_history_runs,
    }


def _system_message(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "system_message": spec.system_message,
        "description": spec.description,
        "instructions": _instructions(spec),
        "expected_output": spec.expected_output,
        "additional_context": spec.additional_context,
        "markdown": spec.markdown,
        "add_datetime_to_context": spec.add_datetime_to_context,
        "resolve_in_context": spec.resolve_in_context,
    }


def _response_settings(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "output_schema_name": _output_schema_name(spec.output_schema),
        "use_json_mode": spec.use_json_mode,
    }


def _instructions(spec: ComponentSpec) -> str | list[str] | None:
    """The instructions, a callable's called with the arguments it names (`agent`, `team`: the spec;
    `run_context`: None, there being no run), as Agno does for its description."""
    instructions = spec.instructions
    if not callable(instructions):
        return instructions or None
    named = inspect.signature(instructions).parameters
    available = {"agent": spec, "team": spec, "run_context": None}
    return instructions(**{key: value for key, value in available.items() if key in named}) or None


def _output_schema_name(schema: type[BaseModel] | dict[str, Any] | None) -> str | None:
    """Agno's `output_schema_name`: the class's name, or the title a JSON Schema gives."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        return schema.__name__
    if "json_schema" in schema:
        return str(schema["json_schema"].get("name", "JSONSchema"))
    if isinstance(schema.get("schema"), dict):
        return str(schema["schema"].get("title", "JSONSchema"))
    return str(schema.get("title", "JSONSchema"))


def _tools(spec: ComponentSpec) -> list[dict[str, Any]]:
    """The tools the model is given that do not depend on the run, as Agno's `Function.to_dict` gives
    them: the component's own, then `update_session_state` (`enable_agentic_state`), then a leader's
    delegation tools (not in tasks mode, whose tools are built around the run's task list)."""
    tools = [*spec.tools, *([update_session_state_tool()] if spec.enable_agentic_state else [])]
    if isinstance(spec, TeamSpec) and spec.mode != "tasks":
        tools += leader_tools(spec)
    return [_tool(tool) for tool in tools]


def _tool(function: Function) -> dict[str, Any]:
    described: dict[str, Any] = {"name": function.name}
    if function.description:
        described["description"] = function.description
    described["parameters"] = function.parameters
    if function.strict:
        described["strict"] = True
    return described


def _meaningful(settings: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any] | None:
    """Agno's `filter_meaningful_config`: the settings that are set and differ from their default, or
    None when none is."""
    kept = {
        key: value
        for key, value in settings.items()
        if value is not None and not (key in defaults and value == defaults[key])
    }
    return kept or None
