"""Build the right event class (agent or team flavour) for a run, with its identity filled in."""

from __future__ import annotations

from typing import Any, Literal

from kern.run import agent as a
from kern.run import team as t
from kern.run.base import BaseRunEvent

EventKind = Literal[
    "started", "content", "content_completed", "completed", "error", "cancelled",
    "tool_started", "tool_completed", "tool_error",
]  # fmt: skip

AGENT_EVENTS: dict[EventKind, type[BaseRunEvent]] = {
    "started": a.RunStartedEvent,
    "content": a.RunContentEvent,
    "content_completed": a.RunContentCompletedEvent,
    "completed": a.RunCompletedEvent,
    "error": a.RunErrorEvent,
    "cancelled": a.RunCancelledEvent,
    "tool_started": a.ToolCallStartedEvent,
    "tool_completed": a.ToolCallCompletedEvent,
    "tool_error": a.ToolCallErrorEvent,
}

TEAM_EVENTS: dict[EventKind, type[BaseRunEvent]] = {
    "started": t.TeamRunStartedEvent,
    "content": t.TeamRunContentEvent,
    "content_completed": t.TeamRunContentCompletedEvent,
    "completed": t.TeamRunCompletedEvent,
    "error": t.TeamRunErrorEvent,
    "cancelled": t.TeamRunCancelledEvent,
    "tool_started": t.TeamToolCallStartedEvent,
    "tool_completed": t.TeamToolCallCompletedEvent,
    "tool_error": t.TeamToolCallErrorEvent,
}


class EventFactory:
    """Makes events of one run: `factory.make("content", content="...")`."""

    def __init__(self, classes: dict[EventKind, type[BaseRunEvent]], identity: dict[str, Any]) -> None:
        self._classes = classes
        self._identity = identity

    def name(self, kind: EventKind) -> str:
        """The event name of this kind (`RunContent` or `TeamRunContent`...)."""
        return str(self._classes[kind].model_fields["event"].default)

    def make(self, kind: EventKind, **fields: Any) -> BaseRunEvent:
        """One event of this run."""
        return self._classes[kind](**self._identity, **fields)


def failure_event(
    is_team: bool, identity: dict[str, Any], message: str, error_type: str = "RunError"
) -> BaseRunEvent:
    """A terminal error event for a run whose own terminal event can no longer come (its actor died)."""
    return EventFactory(TEAM_EVENTS if is_team else AGENT_EVENTS, identity).make(
        "error", content=message, error_type=error_type
    )


def event_after(started: BaseRunEvent, kind: EventKind, **fields: Any) -> BaseRunEvent:
    """An event of the run that `started` began, with its identity: the stand-in terminal event of a run
    whose own can no longer come."""
    classes = TEAM_EVENTS if isinstance(started, t.TeamRunStartedEvent) else AGENT_EVENTS
    identity = {key: getattr(started, key) for key in _IDENTITY if hasattr(started, key)}
    return EventFactory(classes, identity).make(kind, **fields)


_IDENTITY = (
    "run_id", "session_id", "user_id", "parent_run_id", "agent_id", "agent_name", "team_id", "team_name",
)  # fmt: skip
