"""An agent run's events (`RunEvent`, `RunContentEvent`...: see `kern.run.events`) and its output."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from kern.messages import Message
from kern.run.base import AgnoAccessors, BaseRunEvent, Metrics, RunInput, RunStatus, ToolExecution
from kern.run.events import AGENT_EVENTS, Event
from kern.run.names import RunEvent
from kern.run.requirement import RunRequirement

__all__ = ["RunEvent", "RunInput", "RunOutput", *(cls.__name__ for cls in AGENT_EVENTS.values())]


def __getattr__(name: str) -> type[BaseRunEvent]:
    """The agent event classes, by name (`from kern.run.agent import RunContentEvent`)."""
    for cls in AGENT_EVENTS.values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RunOutput(AgnoAccessors):
    """The record of one agent run: what `agent.run(stream=False)` returns and what storage keeps."""

    run_id: str
    agent_id: str
    agent_name: str
    session_id: str | None = None
    user_id: str | None = None
    parent_run_id: str | None = None
    input: str = ""
    content: Any = ""
    """The answer (the output schema's instance for structured output); partial when the run was
    cancelled or failed."""
    content_type: str = "str"
    """The type of `content`, by name (as Agno's)."""
    status: RunStatus = RunStatus.pending
    error: str | None = None
    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolExecution] = Field(default_factory=list)
    requirements: list[RunRequirement] | None = None
    """What a PAUSED run waits for, one per tool call that needs a person (`continue_run`)."""
    metrics: Metrics = Field(default_factory=Metrics)
    model: str | None = None
    model_provider: str | None = None
    session_state: dict[str, Any] | None = None
    """The session's state as the run left it (Agno's); saved as the session's state."""
    events: list[Event] | None = None
    """The run's events, with `store_events` (its terminal event aside: the record is written first)."""
    created_at: float = Field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Agno's `RunOutput.to_dict()`: fields that are None left out, `input` as `{"input_content": ...}`,
        `created_at` in whole seconds (what AgentOS answers for a run)."""
        data = super().to_dict()
        data["input"] = {"input_content": self.input}
        data["created_at"] = int(self.created_at)
        if "member_responses" in data:
            data["member_responses"] = [run.to_dict() for run in getattr(self, "member_responses", [])]
        return data

    @property
    def is_paused(self) -> bool:
        """Whether the run waits for a person (`requirements`)."""
        return self.status is RunStatus.paused

    @property
    def is_cancelled(self) -> bool:
        return self.status is RunStatus.cancelled

    @property
    def active_requirements(self) -> list[RunRequirement]:
        """The requirements not yet answered."""
        return [requirement for requirement in self.requirements or [] if not requirement.is_resolved()]

    @property
    def tools_requiring_confirmation(self) -> list[ToolExecution]:
        return [tool for tool in self.tools if tool.requires_confirmation]

    @property
    def tools_requiring_user_input(self) -> list[ToolExecution]:
        return [tool for tool in self.tools if tool.requires_user_input]

    @property
    def tools_awaiting_external_execution(self) -> list[ToolExecution]:
        return [tool for tool in self.tools if tool.external_execution_required]
