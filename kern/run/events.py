"""One union of every event and one adapter for JSON (SSE, storage) and for crossing processes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from kern.run import agent, team
from kern.run.base import BaseRunEvent

Event = Annotated[
    agent.RunStartedEvent
    | agent.RunContentEvent
    | agent.RunContentCompletedEvent
    | agent.RunCompletedEvent
    | agent.RunErrorEvent
    | agent.RunCancelledEvent
    | agent.ToolCallStartedEvent
    | agent.ToolCallCompletedEvent
    | agent.ToolCallErrorEvent
    | team.TeamRunStartedEvent
    | team.TeamRunContentEvent
    | team.TeamRunContentCompletedEvent
    | team.TeamRunCompletedEvent
    | team.TeamRunErrorEvent
    | team.TeamRunCancelledEvent
    | team.TeamToolCallStartedEvent
    | team.TeamToolCallCompletedEvent
    | team.TeamToolCallErrorEvent,
    Field(discriminator="event"),
]
"""Any event of an agent or team run."""

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)

TERMINAL_EVENTS = frozenset(
    {
        agent.RunEvent.run_completed,
        agent.RunEvent.run_error,
        agent.RunEvent.run_cancelled,
        team.TeamRunEvent.run_completed,
        team.TeamRunEvent.run_error,
        team.TeamRunEvent.run_cancelled,
    }
)


def is_terminal(event: BaseRunEvent) -> bool:
    """Whether this event ends its run."""
    return getattr(event, "event", None) in TERMINAL_EVENTS


def event_from_json(data: str | bytes | dict[str, Any]) -> BaseRunEvent:
    """Parse an event from its JSON text or dict."""
    if isinstance(data, dict):
        return event_adapter.validate_python(data)
    return event_adapter.validate_json(data)


def event_to_json(event: BaseRunEvent) -> str:
    """The event's JSON text, as sent over SSE and stored."""
    return event.model_dump_json()
