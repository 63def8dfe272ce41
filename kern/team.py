"""`Team`: a leader model that delegates to member agents (or teams), each served by its own replicas."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from kern.agent import Agent, Tools, prepare_tools
from kern.agno_options import not_supported, refuse
from kern.component import Component
from kern.db import BaseDb, default_db
from kern.engine.structured import OutputSchema
from kern.models.base import Model
from kern.models.openai import OpenAIResponses
from kern.replicas import Replicas, default_replicas
from kern.run.team import TeamRunEvent, TeamRunOutput
from kern.specs import AgentSpec, TeamSpec, slugify

__all__ = ["Team", "TeamMode", "TeamRunEvent", "TeamRunOutput"]


class TeamMode(StrEnum):
    """How a team works (Agno's `TeamMode`): the leader delegates and answers (coordinate), the chosen
    member's answer is the team's (route), every member works on the task at once (broadcast). `tasks`
    (the leader plans and runs a task list) is not supported yet."""

    coordinate = "coordinate"
    route = "route"
    broadcast = "broadcast"
    tasks = "tasks"


class Team(Component):
    """A team. Modes: coordinate (default), route (`respond_directly=True`), broadcast
    (`delegate_to_all_members=True`). `id` defaults to a slug of `name`."""

    def __init__(
        self,
        members: list[Agent | Team],
        name: str | None = None,
        *,
        id: str | None = None,
        model: Model | None = None,
        description: str | None = None,
        instructions: str | list[str] | None = None,
        tools: Tools | None = None,
        respond_directly: bool = False,
        delegate_to_all_members: bool = False,
        stream_member_events: bool = True,
        db: BaseDb | None = None,
        add_history_to_context: bool = False,
        num_history_runs: int = 3,
        session_id: str | None = None,
        user_id: str | None = None,
        ray_options: dict[str, Any] | None = None,
        replicas: Replicas | None = None,
        stream: bool | None = None,
        stream_events: bool | None = None,
        show_members_responses: bool = False,
        mode: TeamMode | str | None = None,
        output_schema: OutputSchema | None = None,
        input_schema: type[BaseModel] | None = None,
        use_json_mode: bool = False,
        session_state: dict[str, Any] | None = None,
        add_session_state_to_context: bool = False,
        enable_agentic_state: bool = False,
        dependencies: dict[str, Any] | None = None,
        add_dependencies_to_context: bool = False,
        resolve_in_context: bool = True,
        metadata: dict[str, Any] | None = None,
        **agno_options: Any,
    ) -> None:
        refuse("Team", agno_options)
        respond_directly, delegate_to_all_members = _flags(mode, respond_directly, delegate_to_all_members)
        super().__init__(session_id=session_id, user_id=user_id, stream=stream, stream_events=stream_events)
        self.show_members_responses = show_members_responses
        """`print_response` shows each member's response too (display only, as in Agno)."""
        name = name or id or "Team"
        bad = [m for m in members if not isinstance(m, Agent | Team)]
        if bad:
            raise TypeError(f"Team members must be Agent or Team objects, got {bad!r}")
        self.members = list(members)
        db = db if db is not None else default_db()
        functions, tool_instructions = prepare_tools(tools)
        self.spec = TeamSpec(
            id=id or slugify(name),
            name=name,
            model=model or OpenAIResponses(),
            description=description,
            instructions=instructions,
            tools=functions,
            tool_instructions=tool_instructions,
            members=[with_db(member.spec, db) for member in members],
            respond_directly=respond_directly,
            delegate_to_all_members=delegate_to_all_members,
            stream_member_events=stream_member_events,
            db=db,
            add_history_to_context=add_history_to_context,
            num_history_runs=num_history_runs,
            ray_options=ray_options or {},
            replicas=replicas or default_replicas(),
            output_schema=output_schema,
            input_schema=input_schema,
            use_json_mode=use_json_mode,
            session_state=session_state,
            add_session_state_to_context=add_session_state_to_context,
            enable_agentic_state=enable_agentic_state,
            dependencies=dependencies,
            add_dependencies_to_context=add_dependencies_to_context,
            resolve_in_context=resolve_in_context,
            metadata=metadata,
        )


def _flags(
    mode: TeamMode | str | None, respond_directly: bool, delegate_to_all_members: bool
) -> tuple[bool, bool]:
    """`respond_directly`, `delegate_to_all_members` for a mode; an explicit mode wins over both, as in
    Agno."""
    if mode is None:
        return respond_directly, delegate_to_all_members
    try:
        chosen = TeamMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in TeamMode)
        raise ValueError(f"Team(mode={mode!r}) is not a team mode; choose one of {known}") from None
    if chosen is TeamMode.tasks:
        raise not_supported("Team(mode=TeamMode.tasks)")
    return chosen is TeamMode.route, chosen is TeamMode.broadcast


def with_db(spec: AgentSpec | TeamSpec, db: BaseDb | None) -> AgentSpec | TeamSpec:
    """A member's spec that stores its runs in the team's db unless it has its own."""
    if db is None or spec.db is not None:
        return spec
    update: dict[str, Any] = {"db": db}
    if isinstance(spec, TeamSpec):
        update["members"] = [with_db(member, db) for member in spec.members]
    return spec.model_copy(update=update)
