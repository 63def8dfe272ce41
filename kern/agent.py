"""`Agent`: an LLM with instructions and tools, whose runs execute on its replicas (Ray actors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from kern.admission import Admission, default_admission
from kern.agno_options import refuse
from kern.component import Component
from kern.db import BaseDb, default_db
from kern.engine.structured import OutputSchema
from kern.models.base import Model
from kern.models.openai import OpenAIResponses
from kern.placement import Placement, Strategy, placement_of
from kern.replicas import Replicas, default_replicas
from kern.run.agent import RunEvent, RunOutput
from kern.specs import AgentSpec, busy_policy, slugify
from kern.tools import Function, Toolkit

__all__ = ["Agent", "RunEvent", "RunOutput"]


Tools = list[Callable[..., Any] | Function | Toolkit]


def prepare_tools(tools: Tools | None) -> tuple[list[Function], list[str]]:
    """The tools as `Function`s (a `Toolkit` gives its own), and what they add to the system message, in
    Agno's order: each tool's instructions, a toolkit's after its tools'."""
    functions: list[Function] = []
    instructions: list[str] = []
    for each in tools or []:
        if isinstance(each, Toolkit):
            group, own = each.functions, each.instructions if each.add_instructions else None
        else:
            group, own = [each if isinstance(each, Function) else Function.from_callable(each)], None
        functions.extend(group)
        for function in group:
            if function.add_instructions and function.instructions is not None:
                instructions.append(function.instructions)
        if own is not None:
            instructions.append(own)
    return functions, instructions


class Agent(Component):
    """An agent. `id` defaults to a slug of `name` ("Storyteller Agent" -> `storyteller-agent`)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        id: str | None = None,
        model: Model | None = None,
        description: str | None = None,
        instructions: str | list[str] | Callable[..., str | list[str]] | None = None,
        tools: Tools | None = None,
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
        pre_hooks: list[Callable[..., Any]] | None = None,
        post_hooks: list[Callable[..., Any]] | None = None,
        tool_hooks: list[Callable[..., Any]] | None = None,
        retries: int = 0,
        delay_between_retries: float = 1.0,
        exponential_backoff: bool = False,
        tool_call_limit: int | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        debug_mode: bool = False,
        store_events: bool = False,
        events_to_skip: list[str] | None = None,
        busy_session: str = "concurrent",
        **agno_options: Any,
    ) -> None:
        refuse("Agent", agno_options)
        super().__init__(session_id=session_id, user_id=user_id, stream=stream, stream_events=stream_events)
        name = name or id or "Agent"
        functions, tool_instructions = prepare_tools(tools)
        self.spec = AgentSpec(
            id=id or slugify(name),
            name=name,
            model=model or OpenAIResponses(),
            model_given=model is not None,
            description=description,
            instructions=instructions,
            tools=functions,
            tool_instructions=tool_instructions,
            db=db if db is not None else default_db(),
            add_history_to_context=add_history_to_context,
            num_history_runs=num_history_runs,
            num_history_messages=num_history_messages,
            read_chat_history=read_chat_history,
            introduction=introduction,
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
            pre_hooks=pre_hooks or [],
            post_hooks=post_hooks or [],
            tool_hooks=tool_hooks or [],
            retries=retries,
            delay_between_retries=delay_between_retries,
            exponential_backoff=exponential_backoff,
            tool_call_limit=tool_call_limit,
            tool_choice=tool_choice,
            debug_mode=debug_mode,
            store_events=store_events,
            events_to_skip=[str(name) for name in events_to_skip] if events_to_skip is not None else None,
            busy_session=busy_policy(busy_session),
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
        )
