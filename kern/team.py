"""`Team`: a leader model that delegates to member agents (or teams), each served by its own replicas."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from kern.admission import Admission, default_admission
from kern.agent import Agent, Tools, prepare_tools
from kern.agno_options import refuse
from kern.component import Component
from kern.db import BaseDb, default_db
from kern.engine.structured import OutputSchema
from kern.models.base import Model
from kern.models.openai import OpenAIResponses
from kern.placement import Placement, Strategy, placement_of
from kern.replicas import Replicas, default_replicas
from kern.run.team import TeamRunEvent, TeamRunOutput
from kern.specs import AgentSpec, TeamSpec, busy_policy, slugify

__all__ = ["Team", "TeamMode", "TeamRunEvent", "TeamRunOutput"]


class TeamMode(StrEnum):
    """How a team works (Agno's `TeamMode`): the leader delegates and answers (coordinate), the chosen
    member's answer is the team's (route), every member works on the task at once (broadcast), the
    leader plans a task list and has members run the tasks, over up to `max_iterations` turns (tasks)."""

    coordinate = "coordinate"
    route = "route"
    broadcast = "broadcast"
    tasks = "tasks"


class Team(Component):
    """A team. Modes: coordinate (default), route (`respond_directly=True`), broadcast
    (`delegate_to_all_members=True`), tasks (`mode=TeamMode.tasks`). `id` defaults to a slug of `name`.
    The leader is prompted, and its members are given their tasks, as Agno 3.1.10 does it
    (`kern.engine.team_prompt`)."""

    def __init__(
        self,
        members: list[Agent | Team],
        name: str | None = None,
        *,
        id: str | None = None,
        model: Model | None = None,
        description: str | None = None,
        instructions: str | list[str] | Callable[..., str | list[str]] | None = None,
        tools: Tools | None = None,
        respond_directly: bool = False,
        delegate_to_all_members: bool = False,
        stream_member_events: bool = True,
        db: BaseDb | None = None,
        add_history_to_context: bool = False,
        num_history_runs: int = 3,
        num_history_messages: int | None = None,
        read_chat_history: bool = False,
        introduction: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        ray_options: dict[str, Any] | None = None,
        replicas: Replicas | None = None,
        admission: Admission | None = None,
        placement: Placement | Strategy | None = None,
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
        role: str | None = None,
        expected_output: str | None = None,
        additional_context: str | None = None,
        system_message: str | None = None,
        markdown: bool = False,
        add_datetime_to_context: bool = False,
        timezone_identifier: str | None = None,
        datetime_format: str | None = None,
        add_name_to_context: bool = False,
        use_instruction_tags: bool = False,
        determine_input_for_members: bool = True,
        share_member_interactions: bool = False,
        add_team_history_to_members: bool = False,
        num_team_history_runs: int = 3,
        add_member_tools_to_context: bool = False,
        get_member_information_tool: bool = False,
        max_iterations: int = 10,
        pre_hooks: list[Callable[..., Any]] | None = None,
        post_hooks: list[Callable[..., Any]] | None = None,
        retries: int = 0,
        delay_between_retries: float = 1.0,
        exponential_backoff: bool = False,
        tool_call_limit: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        tool_hooks: list[Callable[..., Any]] | None = None,
        debug_mode: bool = False,
        store_events: bool = False,
        events_to_skip: list[str] | None = None,
        busy_session: str = "concurrent",
        **agno_options: Any,
    ) -> None:
        refuse("Team", agno_options)
        chosen = _mode(mode, respond_directly, delegate_to_all_members)
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
            model_given=model is not None,
            description=description,
            instructions=instructions,
            tools=functions,
            tool_instructions=tool_instructions,
            members=[as_member(member.spec, db, model) for member in members],
            respond_directly=chosen is TeamMode.route,
            delegate_to_all_members=chosen is TeamMode.broadcast,
            stream_member_events=stream_member_events,
            db=db,
            add_history_to_context=add_history_to_context,
            num_history_runs=num_history_runs,
            num_history_messages=num_history_messages,
            read_chat_history=read_chat_history,
            introduction=introduction,
            pre_hooks=pre_hooks or [],
            post_hooks=post_hooks or [],
            retries=retries,
            delay_between_retries=delay_between_retries,
            exponential_backoff=exponential_backoff,
            tool_call_limit=tool_call_limit,
            tool_choice=tool_choice,
            tool_hooks=tool_hooks or [],
            debug_mode=debug_mode,
            store_events=store_events,
            events_to_skip=[str(name) for name in events_to_skip] if events_to_skip is not None else None,
            busy_session=busy_policy(busy_session),
            ray_options=ray_options or {},
            replicas=replicas or default_replicas(),
            admission=admission or default_admission(),
            placement=placement_of(placement),
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
            role=role,
            expected_output=expected_output,
            additional_context=additional_context,
            system_message=system_message,
            markdown=markdown,
            add_datetime_to_context=add_datetime_to_context,
            timezone_identifier=timezone_identifier,
            datetime_format=datetime_format,
            add_name_to_context=add_name_to_context,
            use_instruction_tags=use_instruction_tags,
            determine_input_for_members=determine_input_for_members,
            share_member_interactions=share_member_interactions,
            add_team_history_to_members=add_team_history_to_members,
            num_team_history_runs=num_team_history_runs,
            add_member_tools_to_context=add_member_tools_to_context,
            get_member_information_tool=get_member_information_tool,
            task_mode=chosen is TeamMode.tasks,
            max_iterations=max_iterations,
        )


def _mode(mode: TeamMode | str | None, respond_directly: bool, delegate_to_all_members: bool) -> TeamMode:
    """The team's mode, as Agno resolves it: `mode` when given, else from the two flags (broadcast
    winning over route)."""
    if mode is None:
        if delegate_to_all_members:
            return TeamMode.broadcast
        return TeamMode.route if respond_directly else TeamMode.coordinate
    try:
        return TeamMode(mode)
    except ValueError:
        known = ", ".join(m.value for m in TeamMode)
        raise ValueError(f"Team(mode={mode!r}) is not a team mode; choose one of {known}") from None


def as_member(spec: AgentSpec | TeamSpec, db: BaseDb | None, model: Model | None) -> AgentSpec | TeamSpec:
    """A member's spec in its team: it stores its runs in the team's db unless it has its own, and uses
    the team's model if it was built without one (and so do its own members, for a team)."""
    update: dict[str, Any] = {}
    if db is not None and spec.db is None:
        update["db"] = db
    if model is not None and not spec.model_given:
        update["model"] = model
    if isinstance(spec, TeamSpec):
        update["members"] = [
            as_member(member, db, update.get("model", spec.model)) for member in spec.members
        ]
    return spec.model_copy(update=update) if update else spec
