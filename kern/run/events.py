"""Every run event, from one table: each row is one event, with its agent and team forms and its fields.

The event classes (`RunContentEvent`, `TeamRunContentEvent`...), the union of them all with its JSON
adapter (SSE, storage, crossing processes) and the set of terminal events all derive from `EVENTS`. A
team form is its agent form with the team's identity and its name prefixed with "Team", as in Agno.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, create_model

from kern.run.base import (
    AgentEventBase,
    BaseRunEvent,
    CancelledPayload,
    CompletedPayload,
    ContentPayload,
    ErrorPayload,
    ModelRequestCompletedPayload,
    ModelRequestPayload,
    PostHookPayload,
    PreHookPayload,
    StartedPayload,
    TeamEventBase,
    ToolPayload,
)
from kern.run.names import RunEvent, TeamRunEvent
from kern.run.requirement import PausedPayload
from kern.run.tasks import (
    TaskCreatedPayload,
    TaskIterationCompletedPayload,
    TaskIterationPayload,
    TaskStatePayload,
    TaskUpdatedPayload,
)

EventKind = Literal[
    "started", "content", "content_completed", "completed", "error", "cancelled", "paused", "continued",
    "tool_started", "tool_completed", "tool_error", "pre_hook_started", "pre_hook_completed",
    "post_hook_started", "post_hook_completed", "model_request_started", "model_request_completed",
    "task_iteration_started", "task_iteration_completed", "task_state_updated", "task_created",
    "task_updated",
]  # fmt: skip
"""What an event means, whoever emits it."""


@dataclass(frozen=True)
class EventRow:
    """One event: its kind, its agent name (the team's is derived), its fields and what it means. An
    event named by its `TeamRunEvent` is a team's only."""

    kind: EventKind
    name: RunEvent | TeamRunEvent
    fields: type[BaseModel] | None
    doc: str
    terminal: bool = False

    @property
    def team_only(self) -> bool:
        return isinstance(self.name, TeamRunEvent)

    @property
    def team_name(self) -> TeamRunEvent:
        return self.name if isinstance(self.name, TeamRunEvent) else TeamRunEvent[self.name.name]


EVENTS: tuple[EventRow, ...] = (
    EventRow("started", RunEvent.run_started, StartedPayload, "The run began; always its first event."),
    EventRow("content", RunEvent.run_content, ContentPayload, "A piece of the answer."),
    EventRow("content_completed", RunEvent.run_content_completed, None,
             "The model finished streaming a reply (more may follow after tool calls)."),
    EventRow("completed", RunEvent.run_completed, CompletedPayload, "Terminal: the run finished.", True),
    EventRow("error", RunEvent.run_error, ErrorPayload, "Terminal: the run failed.", True),
    EventRow("cancelled", RunEvent.run_cancelled, CancelledPayload,
             "Terminal: the run was cancelled; `content` keeps the partial answer.", True),
    EventRow("paused", RunEvent.run_paused, PausedPayload,
             "Ends the stream: the run waits for a person (`requirements`); `continue_run` resumes it.",
             True),
    EventRow("continued", RunEvent.run_continued, None,
             "A paused run resumed (`continue_run`); the first event of its new stream."),
    EventRow("tool_started", RunEvent.tool_call_started, ToolPayload, "A tool call began."),
    EventRow("tool_completed", RunEvent.tool_call_completed, ToolPayload,
             "A tool call returned; `content` is its result."),
    EventRow("tool_error", RunEvent.tool_call_error, ToolPayload,
             "A tool call raised; its message went back to the model and the run goes on."),
    EventRow("pre_hook_started", RunEvent.pre_hook_started, PreHookPayload, "A pre-hook began."),
    EventRow("pre_hook_completed", RunEvent.pre_hook_completed, PreHookPayload, "A pre-hook returned."),
    EventRow("post_hook_started", RunEvent.post_hook_started, PostHookPayload, "A post-hook began."),
    EventRow("post_hook_completed", RunEvent.post_hook_completed, PostHookPayload, "A post-hook returned."),
    EventRow("model_request_started", RunEvent.model_request_started, ModelRequestPayload,
             "A model call began."),
    EventRow("model_request_completed", RunEvent.model_request_completed, ModelRequestCompletedPayload,
             "A model call ended, with its usage."),
    EventRow("task_iteration_started", TeamRunEvent.task_iteration_started, TaskIterationPayload,
             "Tasks mode: a turn of the leader over the task list began."),
    EventRow("task_iteration_completed", TeamRunEvent.task_iteration_completed,
             TaskIterationCompletedPayload, "Tasks mode: a turn of the leader ended."),
    EventRow("task_state_updated", TeamRunEvent.task_state_updated, TaskStatePayload,
             "Tasks mode: the whole task list, after each turn of the leader."),
    EventRow("task_created", TeamRunEvent.task_created, TaskCreatedPayload,
             "Tasks mode: a task was created."),
    EventRow("task_updated", TeamRunEvent.task_updated, TaskUpdatedPayload,
             "Tasks mode: a task's status changed."),
)  # fmt: skip


def _event_class(name: str, base: type[BaseRunEvent], row: EventRow) -> type[BaseRunEvent]:
    bases: Any = (base,) if row.fields is None else (base, row.fields)
    event: Any = Literal[name]
    cls: type[BaseRunEvent] = create_model(
        f"{name}Event", __base__=bases, __module__=__name__, __doc__=row.doc, event=(event, name)
    )
    globals()[cls.__name__] = cls  # importable by name, so pickle finds it
    return cls


AGENT_EVENTS: dict[EventKind, type[BaseRunEvent]] = {
    row.kind: _event_class(row.name, AgentEventBase, row) for row in EVENTS if not row.team_only
}
"""The agent form of each event."""
TEAM_EVENTS: dict[EventKind, type[BaseRunEvent]] = {
    row.kind: _event_class(row.team_name, TeamEventBase, row) for row in EVENTS
}
"""The team form of each event."""
EVENT_CLASSES: dict[str, type[BaseRunEvent]] = {
    cls.__name__: cls for forms in (AGENT_EVENTS, TEAM_EVENTS) for cls in forms.values()
}
"""Every event class by class name (`RunContentEvent`...)."""

Event: Any = Annotated[Union[tuple(EVENT_CLASSES.values())], Field(discriminator="event")]  # noqa: UP007
"""Any event of an agent or team run."""

event_adapter: TypeAdapter[BaseRunEvent] = TypeAdapter(Event)

TERMINAL_EVENTS = frozenset(name for row in EVENTS if row.terminal for name in (row.name, row.team_name))
STARTED_EVENTS = frozenset(
    {RunEvent.run_started, TeamRunEvent.run_started, RunEvent.run_continued, TeamRunEvent.run_continued}
)
"""The events that open a run's stream: a new run's, or a paused run's resumed one."""
CONTENT_EVENTS = frozenset({RunEvent.run_content, TeamRunEvent.run_content})

assert {row.team_name for row in EVENTS} == set(TeamRunEvent), "every TeamRunEvent needs a row in EVENTS"
assert {row.name for row in EVENTS if not row.team_only} == set(RunEvent), "every RunEvent needs a row"


def forms(is_team: bool) -> dict[EventKind, type[BaseRunEvent]]:
    """The event classes of an agent's or a team's runs, by kind."""
    return TEAM_EVENTS if is_team else AGENT_EVENTS


def is_terminal(event: BaseRunEvent) -> bool:
    """Whether this event ends its run."""
    return event.event in TERMINAL_EVENTS


def event_from_json(data: str | bytes | dict[str, Any]) -> BaseRunEvent:
    """Parse an event from its JSON text or dict."""
    if isinstance(data, dict):
        return event_adapter.validate_python(data)
    return event_adapter.validate_json(data)


def event_to_json(event: BaseRunEvent) -> str:
    """The event's JSON text, as sent over SSE and stored."""
    return event.model_dump_json()
