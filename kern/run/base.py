"""What every run shares: its status, its metrics, and the fields every event carries."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field


class RunStatus(StrEnum):
    """Lifecycle of a run. The upper-case names are aliases of the lower-case ones (Agno uses both)."""

    pending = "PENDING"
    running = "RUNNING"
    completed = "COMPLETED"
    paused = "PAUSED"
    """Waiting for a person (a tool that needs confirmation, input or external execution): the run holds
    no task and no model stream until `continue_run`."""
    cancelled = "CANCELLED"
    error = "ERROR"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        """Whether a run in this status has ended."""
        return self in (RunStatus.completed, RunStatus.cancelled, RunStatus.error)


class Metrics(BaseModel):
    """Token usage and timings of a run (seconds)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    model_calls: int = 0
    time_to_first_token: float | None = None
    """Seconds from the run's start to its first content token."""
    duration: float | None = None

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        """Count one model call's usage."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.total_tokens += input_tokens + output_tokens
        self.model_calls += 1


class AgnoAccessors(BaseModel):
    """Agno's ways to read an event or an output: `to_dict()`, `to_json()`, `get_content_as_string()`."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values, those that are None left out (as Agno's `to_dict`)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self, separators: tuple[str, str] = (", ", ": "), indent: int | None = 2) -> str:
        """`to_dict()` as JSON text."""
        if indent is None:
            return json.dumps(self.to_dict(), separators=separators)
        return json.dumps(self.to_dict(), indent=indent, separators=separators)

    def get_content_as_string(self, **kwargs: Any) -> str:
        """The content as text (JSON for anything that is not a string)."""
        content = getattr(self, "content", None)
        if isinstance(content, str):
            return content
        if isinstance(content, BaseModel):
            return content.model_dump_json(exclude_none=True, **kwargs)
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(content, **kwargs)


IDENTITY_FIELDS = (
    "run_id", "session_id", "user_id", "parent_run_id", "agent_id", "agent_name", "team_id", "team_name",
)  # fmt: skip
"""The fields that say whose run an event belongs to."""


class BaseRunEvent(AgnoAccessors):
    """Fields every event carries, agent or team."""

    model_config = ConfigDict(use_enum_values=False)

    event: str
    """The event's name (`RunContent`, `TeamRunCompleted`...)."""
    run_id: str
    session_id: str | None = None
    user_id: str | None = None
    parent_run_id: str | None = None
    """For a member's run inside a team: the team run's id."""
    created_at: float = Field(default_factory=time.time)
    """Unix time in seconds."""
    content: Any = None
    """What the event carries as content (None for most), on every event as in Agno, so a loop that
    prints `event.content` works whatever the event."""
    event_index: int | None = None
    """Its position in its run's stream (0-based, member events counted), as a server sends it (SSE,
    with an `id:` of the same number): where a client that reconnects rejoins (AgentOS's)."""

    _run_output: Any = PrivateAttr(default=None)

    @property
    def run_output(self) -> Any:
        """The run's `RunOutput`, on the terminal event of a run started with `yield_run_output`; not
        part of the event's JSON."""
        return self._run_output

    @run_output.setter
    def run_output(self, output: Any) -> None:
        self._run_output = output

    def identity(self) -> dict[str, Any]:
        """The fields that say whose run this event belongs to (`IDENTITY_FIELDS` it has)."""
        return {key: getattr(self, key) for key in IDENTITY_FIELDS if hasattr(self, key)}

    @property
    def is_paused(self) -> bool:
        """Whether this event pauses its run (`RunPaused`: see its `requirements`)."""
        return getattr(self, "status", None) is RunStatus.paused


class AgentEventBase(BaseRunEvent):
    """Fields of every agent event."""

    agent_id: str
    agent_name: str


class TeamEventBase(BaseRunEvent):
    """Fields of every team event."""

    team_id: str
    team_name: str


class StartedPayload(BaseModel):
    """The run began; always its first event, before any model call."""

    model: str | None = None
    """The id of the model the agent or team uses."""
    model_provider: str | None = None


class ContentPayload(BaseModel):
    """A piece of the answer: streamed text, or the whole structured output (`output_schema`)."""

    content: Any = ""
    content_type: str = "str"
    """The type of `content`, by name (the output schema's class name for structured output)."""


class TerminalPayload(BaseModel):
    """What a terminal event says about the whole run."""

    content: Any = ""
    """The full answer (the output schema's instance for structured output), or the partial answer when
    cancelled, or the error message."""
    content_type: str = "str"
    status: RunStatus
    metrics: Metrics = Field(default_factory=Metrics)
    session_state: dict[str, Any] | None = None
    """The session's state as the run left it (Agno's)."""
    storage_error: str | None = None
    """Why the run's record was not in its database when this event was sent (the database was slow,
    locked, down or read-only), and whether kern still retries it; None when it was saved or there is
    no database. kern's own field, not Agno's."""


class ErrorPayload(TerminalPayload):
    """A run that failed: why, as data (errors cross processes as text, not pickled exceptions)."""

    status: RunStatus = RunStatus.error
    error_type: str = "Error"
    partial_content: str = ""


class CancelledPayload(TerminalPayload):
    """A run that was cancelled; `content` keeps what was produced before the cancel."""

    status: RunStatus = RunStatus.cancelled
    reason: str | None = None
    """Set when kern ended the run in its stead (a member that did not answer the cancel in time)."""


class CompletedPayload(TerminalPayload):
    """A run that finished."""

    status: RunStatus = RunStatus.completed


class RunInput(BaseModel):
    """What a run was given (Agno's `RunInput`); a pre-hook may change `input_content`."""

    input_content: Any = ""

    def input_content_string(self) -> str:
        """The input as text (JSON for a pydantic model)."""
        if isinstance(self.input_content, BaseModel):
            return self.input_content.model_dump_json(exclude_none=True)
        return self.input_content if isinstance(self.input_content, str) else json.dumps(self.input_content)


class PreHookPayload(BaseModel):
    """A pre-hook (run before the model sees the input) started or completed."""

    pre_hook_name: str | None = None
    run_input: RunInput | None = None


class PostHookPayload(BaseModel):
    """A post-hook (run on the output before the run completes) started or completed."""

    post_hook_name: str | None = None


class ModelRequestPayload(BaseModel):
    """A model call began."""

    model: str | None = None
    model_provider: str | None = None


class ModelRequestCompletedPayload(ModelRequestPayload):
    """A model call ended: its usage."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    time_to_first_token: float | None = None


class UserInputField(BaseModel):
    """A value a person gives a tool that `requires_user_input` (Agno's): the tool's parameter `name`,
    its type by name, and the `value` (the model's, or None until the person gives it)."""

    name: str
    field_type: str = "str"
    description: str | None = None
    value: Any = None


class ToolExecution(BaseModel):
    """A tool call as it happened, or as it waits for a person (`is_paused`)."""

    tool_call_id: str
    tool_name: str
    tool_args: dict[str, object] = Field(default_factory=dict)
    result: str | None = None
    error: str | None = None
    duration: float | None = None
    requires_confirmation: bool | None = None
    """The call waits for a yes or no (`confirmed`) before it runs."""
    confirmed: bool | None = None
    confirmation_note: str | None = None
    """Why it was rejected: the model is told."""
    requires_user_input: bool | None = None
    """The call waits for the values of `user_input_schema`."""
    user_input_schema: list[UserInputField] | None = None
    answered: bool | None = None
    external_execution_required: bool | None = None
    """The caller runs the tool itself and gives its `result`."""
    member_run_ids: list[str] | None = None
    """kern's, on a team's delegation call: the member runs it started."""
    waiting_for_members: bool | None = None
    """kern's: the delegation call waits for member runs that paused (their `requirements` are the team
    run's)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tool_call_error(self) -> bool:
        """Whether the call failed (Agno's field)."""
        return self.error is not None

    @property
    def is_paused(self) -> bool:
        """Whether the call waits for a person (Agno's)."""
        waits = self.requires_confirmation or self.requires_user_input or self.external_execution_required
        return bool(waits or self.waiting_for_members)


class ToolPayload(BaseModel):
    """A tool call event: the call and, once done, its result or error."""

    tool: ToolExecution
    content: str = ""
