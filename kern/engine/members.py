"""Following one member's run from the leader: its answer, its status, its record."""

from __future__ import annotations

from kern.engine.frames import Frame, is_terminal_frame
from kern.run.agent import RunOutput
from kern.run.base import Metrics, RunStatus
from kern.specs import AgentSpec, RunRequest, TeamSpec, run_record


class MemberTracker:
    """Watches a member's event stream (its own events and its sub-members') for the member's outcome."""

    def __init__(self, member: AgentSpec | TeamSpec, request: RunRequest) -> None:
        self.member = member
        self.request = request
        self.content = ""
        self.status = RunStatus.running
        self.error: str | None = None
        self.metrics = Metrics()

    @property
    def finished(self) -> bool:
        """Whether the member's terminal event was seen (or its stream broke)."""
        return self.status.is_terminal

    def observe(self, frames: list[Frame]) -> None:
        """Take note of frames from the member's stream (content deltas are read, not decoded)."""
        for frame in frames:
            if frame[0] != self.request.run_id:
                continue
            payload = frame[3]
            if isinstance(payload, str):
                self.content += payload
            elif is_terminal_frame(frame):
                event = payload
                self.status = getattr(event, "status", RunStatus.error)
                self.metrics = getattr(event, "metrics", self.metrics)
                if self.status is RunStatus.completed:
                    self.content = getattr(event, "content", self.content)
                elif self.status is RunStatus.error:
                    self.error = getattr(event, "content", "") or "unknown error"

    def fail(self, reason: str) -> None:
        """The member's stream broke before its terminal event (actor died, node lost...)."""
        if not self.finished:
            self.status, self.error = RunStatus.error, reason

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
        status = self.status if self.finished else RunStatus.cancelled
        return run_record(
            self.member,
            self.request,
            content=self.content,
            status=status,
            error=self.error,
            metrics=self.metrics,
        )
