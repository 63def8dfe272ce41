"""An agent run's events and its output."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from kern.messages import Message
from kern.run.base import (
    AgnoAccessors,
    BaseRunEvent,
    CancelledPayload,
    CompletedPayload,
    ContentPayload,
    ErrorPayload,
    Metrics,
    RunStatus,
    ToolExecution,
    ToolPayload,
)


class RunEvent(StrEnum):
    """Names of the events an agent run emits."""

    run_started = "RunStarted"
    run_content = "RunContent"
    run_content_completed = "RunContentCompleted"
    run_completed = "RunCompleted"
    run_error = "RunError"
    run_cancelled = "RunCancelled"
    tool_call_started = "ToolCallStarted"
    tool_call_completed = "ToolCallCompleted"
    tool_call_error = "ToolCallError"


class AgentEventBase(BaseRunEvent):
    """Fields of every agent event."""

    agent_id: str
    agent_name: str


class RunStartedEvent(AgentEventBase):
    """The run began; always the first event, before any model call."""

    event: Literal[RunEvent.run_started] = RunEvent.run_started
    model: str | None = None
    """The id of the model the agent uses."""


class RunContentEvent(AgentEventBase, ContentPayload):
    """A delta of the agent's answer."""

    event: Literal[RunEvent.run_content] = RunEvent.run_content


class RunContentCompletedEvent(AgentEventBase):
    """The model finished streaming a reply (there may be more after tool calls)."""

    event: Literal[RunEvent.run_content_completed] = RunEvent.run_content_completed


class RunCompletedEvent(AgentEventBase, CompletedPayload):
    """Terminal: the run finished."""

    event: Literal[RunEvent.run_completed] = RunEvent.run_completed


class RunErrorEvent(AgentEventBase, ErrorPayload):
    """Terminal: the run failed."""

    event: Literal[RunEvent.run_error] = RunEvent.run_error


class RunCancelledEvent(AgentEventBase, CancelledPayload):
    """Terminal: the run was cancelled; `content` keeps the partial answer."""

    event: Literal[RunEvent.run_cancelled] = RunEvent.run_cancelled


class ToolCallStartedEvent(AgentEventBase, ToolPayload):
    """A tool call began."""

    event: Literal[RunEvent.tool_call_started] = RunEvent.tool_call_started


class ToolCallCompletedEvent(AgentEventBase, ToolPayload):
    """A tool call returned; `content` is its result."""

    event: Literal[RunEvent.tool_call_completed] = RunEvent.tool_call_completed


class ToolCallErrorEvent(AgentEventBase, ToolPayload):
    """A tool call raised; its message went back to the model and the run goes on."""

    event: Literal[RunEvent.tool_call_error] = RunEvent.tool_call_error


AgentRunEvent = Annotated[
    RunStartedEvent
    | RunContentEvent
    | RunContentCompletedEvent
    | RunCompletedEvent
    | RunErrorEvent
    | RunCancelledEvent
    | ToolCallStartedEvent
    | ToolCallCompletedEvent
    | ToolCallErrorEvent,
    Field(discriminator="event"),
]
"""Any event of an agent run."""


class RunOutput(AgnoAccessors):
    """The record of one agent run: what `agent.run(stream=False)` returns and what storage keeps."""

    run_id: str
    agent_id: str
    agent_name: str
    session_id: str | None = None
    user_id: str | None = None
    parent_run_id: str | None = None
    input: str = ""
    content: str = ""
    """The answer; partial when the run was cancelled or failed."""
    content_type: str = "str"
    """The type of `content`, by name (as Agno's)."""
    status: RunStatus = RunStatus.pending
    error: str | None = None
    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolExecution] = Field(default_factory=list)
    metrics: Metrics = Field(default_factory=Metrics)
    model: str | None = None
    created_at: float = Field(default_factory=time.time)
