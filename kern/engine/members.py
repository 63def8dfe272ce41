"""Following one member's run from the leader: its answer, its status, its record."""

from __future__ import annotations

import time
from typing import Any

from kern.engine.events import event_after
from kern.engine.frames import Frame, event_frame, is_terminal_frame
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, Metrics, RunStatus
from kern.run.events import STARTED_EVENTS
from kern.specs import AgentSpec, RunRequest, TeamSpec, run_record


class MemberTracker:
    """Watches a member's event stream (its own events and its sub-members') for the member's outcome."""

    def __init__(self, member: AgentSpec | TeamSpec, request: RunRequest) -> None:
        self.member = member
        self.request = request
        self.content = ""
        self.status = RunStatus.running
        self.error: str | None = None
        self.error_type = "RunError"
        self.cut_reason = ""
        self.metrics = Metrics()
        self.created_at = time.time()
        """When the leader started the member's run: its record's start, if the leader writes it."""
        self.session_state: dict[str, Any] | None = None
        """The member run's session state as its terminal event carries it."""
        self.paused: RunOutput | None = None
        """The member's record, when it paused (its `RunPaused` carries it): what continuing it needs."""
        self._open: dict[str, BaseRunEvent] = {}
        """The started event of each run in the stream (the member's, its members') that has not ended."""

    @property
    def finished(self) -> bool:
        """Whether the member's outcome is known: its terminal event came (it may have paused), or its
        stream failed."""
        return self.status.is_terminal or self.status is RunStatus.paused

    def observe(self, frames: list[Frame]) -> None:
        """Take note of frames from the member's stream (content deltas are read, not decoded)."""
        own = self.request.run_id
        for frame in frames:
            run_id, _, _, payload = frame
            if isinstance(payload, str):
                if run_id == own:
                    self.content += payload
            elif payload.event in STARTED_EVENTS:
                self._open[run_id] = payload
            elif is_terminal_frame(frame):
                self._open.pop(run_id, None)
                if run_id == own:
                    self._end(payload)

    def _end(self, event: BaseRunEvent) -> None:
        self.status = getattr(event, "status", RunStatus.error)
        self.metrics = getattr(event, "metrics", self.metrics)
        self.session_state = getattr(event, "session_state", None)
        if self.status is RunStatus.completed:
            self.content = getattr(event, "content", self.content)
        elif self.status is RunStatus.paused:
            output = event.run_output
            self.paused = output if isinstance(output, RunOutput) else None
            if self.paused is None:  # (a paused run's terminal event always carries its record)
                self.status, self.error = RunStatus.error, "the member paused without its record"
        elif self.status is RunStatus.error:
            self.error = getattr(event, "content", "") or "unknown error"

    def fail(self, reason: str, error_type: str) -> None:
        """The member's stream failed before its terminal event (actor died, node lost, silence...)."""
        if not self.finished:
            self.status, self.error, self.error_type = RunStatus.error, reason, error_type

    def cut(self, reason: str) -> None:
        """The leader stopped waiting for the cancelled member's own terminal event."""
        if not self.finished:
            self.status, self.cut_reason = RunStatus.cancelled, reason

    def stand_ins(self) -> list[Frame]:
        """Terminal frames for the runs of the stream that started and will not end in it (the member's
        actor died or hung): members before their team, each cancelled or failed as the member is."""
        ends = [event_frame(self._stand_in(started)) for started in reversed(self._open.values())]
        self._open.clear()
        return ends

    def _stand_in(self, started: BaseRunEvent) -> BaseRunEvent:
        partial = self.content if started.run_id == self.request.run_id else ""
        if self.status is RunStatus.cancelled:
            return event_after(started, "cancelled", content=partial, reason=self.cut_reason)
        return event_after(
            started, "error", content=self.error or "", error_type=self.error_type, partial_content=partial
        )

    def tool_result(self) -> str:
        """What the leader's model is told."""
        name = self.member.name
        if self.status is RunStatus.completed:
            return self.content
        if self.status is RunStatus.cancelled:
            partial = f" Partial answer: {self.content}" if self.content else ""
            return f"{name}'s run {self.request.run_id} was cancelled before it finished.{partial}"
        return f"{name} failed: {self.error or 'its run did not finish'}"

    def output(self) -> RunOutput:
        """The member's run as the team run records it."""
        if self.paused is not None:
            return self.paused
        status = self.status if self.finished else RunStatus.cancelled
        return run_record(
            self.member,
            self.request,
            content=self.content,
            status=status,
            error=self.error,
            metrics=self.metrics,
            created_at=self.created_at,
        )
