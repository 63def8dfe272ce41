"""What a paused run waits for (Agno's `RunRequirement`): one per tool call that needs a person, answered
with `confirm()` / `reject()`, `provide_user_input()` or `set_external_execution_result()`, then given
back to `continue_run`."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from kern.run.base import RunStatus, TerminalPayload, ToolExecution

PauseType = Literal["confirmation", "user_input", "external_execution"]


class RunRequirement(BaseModel):
    """One tool call of a paused run and what it waits for."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tool_execution: ToolExecution
    created_at: float = Field(default_factory=time.time)
    confirmation: bool | None = None
    confirmation_note: str | None = None
    external_execution_result: str | None = None
    member_agent_id: str | None = None
    member_agent_name: str | None = None
    member_run_id: str | None = None

    @property
    def user_input_schema(self) -> list[Any] | None:
        """The values the tool waits for (its `tool_execution`'s)."""
        return self.tool_execution.user_input_schema

    @property
    def needs_confirmation(self) -> bool:
        tool = self.tool_execution
        return bool(tool.requires_confirmation) and self.confirmation is None and tool.confirmed is None

    @property
    def needs_user_input(self) -> bool:
        tool = self.tool_execution
        if not tool.requires_user_input or tool.answered:
            return False
        return any(field.value is None for field in tool.user_input_schema or [])

    @property
    def needs_external_execution(self) -> bool:
        tool = self.tool_execution
        return bool(tool.external_execution_required) and tool.result is None

    @property
    def pause_type(self) -> PauseType:
        tool = self.tool_execution
        if tool.external_execution_required:
            return "external_execution"
        if tool.requires_user_input:
            return "user_input"
        return "confirmation"

    def confirm(self) -> None:
        """Let the tool run."""
        if not self.needs_confirmation:
            raise ValueError("This requirement does not require confirmation")
        self.confirmation = self.tool_execution.confirmed = True

    def reject(self, note: str | None = None) -> None:
        """Do not run the tool; the model is told so (with `note`, if given)."""
        if not self.needs_confirmation:
            raise ValueError("This requirement does not require confirmation")
        self.confirmation = self.tool_execution.confirmed = False
        self.confirmation_note = self.tool_execution.confirmation_note = note

    def provide_user_input(self, values: dict[str, Any]) -> None:
        """Give the tool's missing values, by parameter name."""
        if not self.needs_user_input:
            raise ValueError("This requirement does not require user input")
        schema = self.tool_execution.user_input_schema or []
        unknown = set(values) - {field.name for field in schema}
        if unknown:
            raise ValueError(f"{self.tool_execution.tool_name} takes no input named {sorted(unknown)}")
        for field in schema:
            if field.name in values:
                field.value = values[field.name]
        if all(field.value is not None for field in schema):
            self.tool_execution.answered = True

    def set_external_execution_result(self, result: str) -> None:
        """The result of the tool, run by the caller."""
        if not self.needs_external_execution:
            raise ValueError("This requirement does not require external execution")
        self.external_execution_result = self.tool_execution.result = result

    def is_resolved(self) -> bool:
        """Whether it has what it waits for."""
        return not (self.needs_confirmation or self.needs_user_input or self.needs_external_execution)


class PausedPayload(TerminalPayload):
    """A run that waits for a person: the tool calls that wait (`tools`) and what each needs
    (`requirements`). Its stream ends here; `continue_run` resumes it."""

    status: RunStatus = RunStatus.paused
    tools: list[ToolExecution] | None = None
    requirements: list[RunRequirement] | None = None

    @property
    def active_requirements(self) -> list[RunRequirement]:
        """The requirements not yet answered."""
        return [requirement for requirement in self.requirements or [] if not requirement.is_resolved()]

    @property
    def tools_requiring_confirmation(self) -> list[ToolExecution]:
        return [tool for tool in self.tools or [] if tool.requires_confirmation]

    @property
    def tools_requiring_user_input(self) -> list[ToolExecution]:
        return [tool for tool in self.tools or [] if tool.requires_user_input]

    @property
    def tools_awaiting_external_execution(self) -> list[ToolExecution]:
        return [tool for tool in self.tools or [] if tool.external_execution_required]
