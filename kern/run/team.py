"""A team run's events and its output."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from kern.run.agent import RunOutput
from kern.run.base import (
    BaseRunEvent,
    CancelledPayload,
    CompletedPayload,
    ContentPayload,
    ErrorPayload,
    ToolPayload,
)


class TeamRunEvent(StrEnum):
    """Names of the events a team run emits (members' events keep their `RunEvent` names)."""

    run_started = "TeamRunStarted"
    run_content = "TeamRunContent"
    run_content_completed = "TeamRunContentCompleted"
    run_completed = "TeamRunCompleted"
    run_error = "TeamRunError"
    run_cancelled = "TeamRunCancelled"
    tool_call_started = "TeamToolCallStarted"
    tool_call_completed = "TeamToolCallCompleted"
    tool_call_error = "TeamToolCallError"


class TeamEventBase(BaseRunEvent):
    """Fields of every team event."""

    team_id: str
    team_name: str


class TeamRunStartedEvent(TeamEventBase):
    """The team run began; always the first event of a team stream, before any model call."""

    event: Literal[TeamRunEvent.run_started] = TeamRunEvent.run_started
    model: str | None = None


class TeamRunContentEvent(TeamEventBase, ContentPayload):
    """A delta of the leader's answer."""

    event: Literal[TeamRunEvent.run_content] = TeamRunEvent.run_content


class TeamRunContentCompletedEvent(TeamEventBase):
    """The leader's model finished streaming a reply."""

    event: Literal[TeamRunEvent.run_content_completed] = TeamRunEvent.run_content_completed


class TeamRunCompletedEvent(TeamEventBase, CompletedPayload):
    """Terminal: the team run finished."""

    event: Literal[TeamRunEvent.run_completed] = TeamRunEvent.run_completed


class TeamRunErrorEvent(TeamEventBase, ErrorPayload):
    """Terminal: the team run failed."""

    event: Literal[TeamRunEvent.run_error] = TeamRunEvent.run_error


class TeamRunCancelledEvent(TeamEventBase, CancelledPayload):
    """Terminal: the team run was cancelled; `content` keeps the leader's partial answer."""

    event: Literal[TeamRunEvent.run_cancelled] = TeamRunEvent.run_cancelled


class TeamToolCallStartedEvent(TeamEventBase, ToolPayload):
    """The leader started a tool call (delegation included)."""

    event: Literal[TeamRunEvent.tool_call_started] = TeamRunEvent.tool_call_started


class TeamToolCallCompletedEvent(TeamEventBase, ToolPayload):
    """A leader's tool call returned."""

    event: Literal[TeamRunEvent.tool_call_completed] = TeamRunEvent.tool_call_completed


class TeamToolCallErrorEvent(TeamEventBase, ToolPayload):
    """A leader's tool call raised."""

    event: Literal[TeamRunEvent.tool_call_error] = TeamRunEvent.tool_call_error


TeamRunEventModel = Annotated[
    TeamRunStartedEvent
    | TeamRunContentEvent
    | TeamRunContentCompletedEvent
    | TeamRunCompletedEvent
    | TeamRunErrorEvent
    | TeamRunCancelledEvent
    | TeamToolCallStartedEvent
    | TeamToolCallCompletedEvent
    | TeamToolCallErrorEvent,
    Field(discriminator="event"),
]
"""Any event a team itself emits."""


class TeamRunOutput(RunOutput):
    """The record of one team run, with its members' runs."""

    agent_id: str = ""
    agent_name: str = ""
    team_id: str
    team_name: str
    member_responses: list[RunOutput | TeamRunOutput] = Field(default_factory=list)
