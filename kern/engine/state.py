"""The state of one run while it executes: identity, conversation, partial answer, metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kern.engine.events import EventFactory
from kern.engine.frames import Frame, content_frame, event_frame
from kern.engine.outbox import Outbox
from kern.engine.run_context import saved_state
from kern.messages import Message
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, Metrics, RunStatus, ToolExecution
from kern.run.context import RunContext
from kern.run.events import EventKind
from kern.run.requirement import RunRequirement
from kern.specs import ComponentSpec, RunRequest, run_identity, run_record
from kern.tools import Function

_URGENT: frozenset[EventKind] = frozenset(
    {"started", "continued", "completed", "cancelled", "error", "paused"}
)


@dataclass
class RunState:
    """Everything a run loop reads and writes. One per run, owned by the run's task."""

    spec: ComponentSpec
    request: RunRequest
    outbox: Outbox
    """The link to whoever started the run."""
    route: str
    """The run's route on that link: the id of the run its consumer started (this one, or its team's)."""
    tools: list[Function] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    content: Any = ""
    """What the run has answered so far: the partial answer if it stops early; the output schema's
    instance once a structured answer is parsed."""
    content_type: str = "str"
    run_context: RunContext | None = None
    """What tools and prompts see of the run (session state, dependencies); set as the run begins."""
    metrics: Metrics = field(default_factory=Metrics)
    tool_executions: list[ToolExecution] = field(default_factory=list)
    requirements: list[RunRequirement] | None = None
    """What the run waits for once it pauses, and kept after it continues (Agno's)."""
    member_responses: list[RunOutput] = field(default_factory=list)
    resume_delegation: Callable[[ToolExecution], Awaitable[tuple[Message, bool]]] | None = None
    """A team's way to continue a delegation call whose member runs paused (`Delegation.resume`)."""
    started_at: float = field(default_factory=time.monotonic)
    created_at: float = field(default_factory=time.time)
    """When the run started (Unix time): every snapshot of its record keeps it."""
    begun: bool = False
    """Set when the run's task starts executing."""
    cancel_requested: bool = False
    finishing: bool = False
    """Set once the run's outcome is decided; a cancel arriving later no longer applies."""

    def __post_init__(self) -> None:
        self.is_team = self.spec.kind == "team"
        self.events = EventFactory(self.is_team, run_identity(self.spec, self.request))
        self._content_name = self.events.name("content")
        skipped = self.spec.events_to_skip
        self._skipped = {str(name) for name in skipped} if skipped is not None else {self._content_name}
        self.stored_events: list[BaseRunEvent] = []
        """The events kept in the run's record (`store_events`)."""

    @property
    def run_id(self) -> str:
        """This run's id."""
        return self.request.run_id

    def emit(self, kind: EventKind, *, output: RunOutput | None = None, **fields: Any) -> None:
        """Emit one event of this run; its first, first content and terminal events are never held back.
        `output` rides along with a terminal event (not serialized) when the caller asked for it."""
        urgent = kind in _URGENT
        event = self.events.make(kind, **fields)
        event.run_output = output
        self._keep(event)
        self.outbox.put(self.route, [event_frame(event)], urgent=urgent)

    def _keep(self, event: BaseRunEvent) -> None:
        """Keep the event in the run's record if the spec stores events (Agno's `store_events`)."""
        if self.spec.store_events and event.event not in self._skipped:
            self.stored_events.append(event)

    def forward(self, frames: list[Frame], *, urgent: bool = False) -> None:
        """Pass on frames of a member's run, as they are, in this run's route."""
        self.outbox.put(self.route, frames, urgent=urgent)

    def add_content(self, text: str) -> None:
        """Record and stream a piece of the answer."""
        if not text:
            return
        first = self.metrics.time_to_first_token is None
        if first:
            self.metrics.time_to_first_token = time.monotonic() - self.started_at
        self.content += text
        if self.spec.store_events and self._content_name not in self._skipped:
            self._keep(self.events.make("content", content=text))
        # The first token is not held back either: time to first token is what a user waits on.
        self.outbox.put(self.route, [content_frame(self.run_id, self._content_name, text)], urgent=first)

    def output(self, status: RunStatus, error: str | None = None) -> RunOutput:
        """The run's record as it stands."""
        self.metrics.duration = time.monotonic() - self.started_at
        extra = {"member_responses": self.member_responses} if self.is_team else {}
        return run_record(
            self.spec,
            self.request,
            created_at=self.created_at,
            content=self.content,
            content_type=self.content_type,
            session_state=saved_state(self.run_context),
            events=list(self.stored_events) if self.spec.store_events else None,
            status=status,
            error=error,
            messages=self.messages,
            tools=self.tool_executions,
            requirements=self.requirements,
            metrics=self.metrics,
            **extra,
        )
