"""Plain-data descriptions of agents, teams and run requests: what crosses from a driver to an actor."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from kern.admission import Admission, default_admission
from kern.db.base import BaseDb
from kern.models.base import Model
from kern.placement import Placement
from kern.replicas import Replicas, default_replicas
from kern.run.agent import RunOutput
from kern.run.context import RunContext
from kern.run.team import TeamRunOutput
from kern.tools import Function


def slugify(name: str) -> str:
    """ "Storytelling Team" -> "storytelling-team"."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError(f"Cannot derive an id from the name {name!r}: give an explicit id")
    return slug


MAX_RUN_ID_CHARS = 256
"""The longest run id kern takes (a UUID is 36)."""


def new_id() -> str:
    """A fresh run or session id."""
    return str(uuid.uuid4())


BusySession = Literal["concurrent", "enqueue", "interrupt", "reject"]
"""What a new run does when its session has one in flight: run beside it (`concurrent`, the default),
wait its turn (`enqueue`), cancel it and go (`interrupt`), or be refused (`reject`)."""
BUSY_SESSION_POLICIES: tuple[str, ...] = ("concurrent", "enqueue", "interrupt", "reject")


def busy_policy(value: str) -> BusySession:
    """`value` if it is a busy-session policy; a ValueError naming the choices otherwise."""
    if value not in BUSY_SESSION_POLICIES:
        raise ValueError(f"busy_session must be one of {list(BUSY_SESSION_POLICIES)}, got {value!r}")
    return value  # type: ignore[return-value]


class ComponentSpec(BaseModel):
    """What agents and teams share."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: Literal["agent", "team"]
    id: str
    name: str
    model: Model
    model_given: bool = True
    """False when built without a model: a team gives such a member its own (as Agno does)."""
    description: str | None = None
    instructions: str | list[str] | Callable[..., str | list[str]] | None = None
    """Text, a list of texts, or a callable that returns either (called where the run runs, with the
    arguments it names of `agent` / `team` (this spec) and `run_context`), as in Agno."""
    role: str | None = None
    expected_output: str | None = None
    additional_context: str | None = None
    system_message: str | None = None
    """Replaces the system message kern builds (Agno's `system_message`)."""
    markdown: bool = False
    add_datetime_to_context: bool = False
    timezone_identifier: str | None = None
    datetime_format: str | None = None
    add_name_to_context: bool = False
    use_instruction_tags: bool = False
    output_schema: type[BaseModel] | dict[str, Any] | None = None
    """The answer's shape: a pydantic class (the answer is its instance) or a JSON Schema (a dict)."""
    use_json_mode: bool = False
    """Ask for any JSON object and describe the schema in the system message, instead of the API's
    structured outputs."""
    input_schema: type[BaseModel] | None = None
    busy_session: BusySession = "concurrent"
    """What a run started while its session has one in flight does (`BusySession`)."""
    """What a run's input must fit (checked where the run is started)."""
    session_state: dict[str, Any] | None = None
    """The state a new session starts with (Agno's)."""
    add_session_state_to_context: bool = False
    enable_agentic_state: bool = False
    """Give the model Agno's `update_session_state` tool."""
    dependencies: dict[str, Any] | None = None
    """Values (or callables, called at the run's start) for tools (`run_context.dependencies`) and for
    `{name}` placeholders."""
    add_dependencies_to_context: bool = False
    resolve_in_context: bool = True
    """Replace `{name}` placeholders of the prompts with state, dependencies, metadata and user id."""
    metadata: dict[str, Any] | None = None
    store_events: bool = False
    """Keep the run's events in its record (`RunOutput.events`), but those named in `events_to_skip`
    (by default its content deltas), as Agno does."""
    events_to_skip: list[str] | None = None
    debug_mode: bool = False
    """Log the run's messages, model replies, tool calls and metrics (`kern.engine.debug`)."""
    pre_hooks: list[Callable[..., Any]] = Field(default_factory=list)
    """Called before the model sees the input (`kern.engine.hooks`)."""
    post_hooks: list[Callable[..., Any]] = Field(default_factory=list)
    """Called on the output before the run completes."""
    retries: int = Field(default=0, ge=0)
    """Model calls that fail before streaming anything are tried again this many times."""
    delay_between_retries: float = Field(default=1.0, ge=0)
    exponential_backoff: bool = False
    """Double the delay after each failed attempt."""
    tool_call_limit: int | None = Field(default=None, ge=0)
    """The most tool calls a run makes; later calls are answered "Tool call limit reached" (Agno's)."""
    tool_choice: str | dict[str, Any] | None = None
    tool_hooks: list[Callable[..., Any]] = Field(default_factory=list)
    """Wrap each (sync) tool call: `hook(function_name, function_call, arguments)` returns the result."""
    tools: list[Function] = Field(default_factory=list)
    tool_instructions: list[str] = Field(default_factory=list)
    """What the tools ask to add to the system message."""
    db: BaseDb | None = None
    """A `kern.db.BaseDb` that keeps this component's runs and sessions."""
    add_history_to_context: bool = False
    num_history_runs: int = 3
    introduction: str | None = None
    """What a new session starts with: stored as the assistant's first message (Agno's)."""
    read_chat_history: bool = False
    """Give the model Agno's `get_chat_history` tool (the session's messages; needs a db)."""
    num_history_messages: int | None = Field(default=None, ge=0)
    """With history on: the last this many messages of earlier runs instead of `num_history_runs` runs."""
    max_model_calls: int = 16
    """A guard against a model that never stops calling tools."""
    ray_options: dict[str, Any] = Field(default_factory=dict)
    """Extra Ray actor options (num_cpus, resources, runtime_env, scheduling_strategy...) of each replica."""
    replicas: Replicas = Field(default_factory=default_replicas)
    """How many actors serve this component (kern.replicas)."""
    admission: Admission = Field(default_factory=default_admission)
    """How many of its runs are let in at once, and how many wait (kern.admission)."""
    placement: Placement = Field(default_factory=Placement)
    """Which nodes run its replicas (kern.placement)."""

    @field_validator("placement")
    @classmethod
    def _one_strategy(cls, placement: Placement, info: ValidationInfo) -> Placement:
        if placement.strategy and "scheduling_strategy" in info.data.get("ray_options", {}):
            raise ValueError(
                f"placement strategy {placement.strategy!r} and ray_options['scheduling_strategy'] both "
                "say where the actors go: give one"
            )
        return placement

    def system_prompt(self, context: RunContext | None = None) -> str:
        """The system message, as Agno builds an agent's (`kern.engine.system_message`), for a run."""
        from kern.engine.system_message import agent_system_message

        return agent_system_message(self, context).strip()


class AgentSpec(ComponentSpec):
    """An agent."""

    kind: Literal["agent"] = "agent"


class TeamSpec(ComponentSpec):
    """A team: a leader model and its members (agents or teams)."""

    kind: Literal["team"] = "team"
    members: list[AgentSpec | TeamSpec]
    respond_directly: bool = False
    delegate_to_all_members: bool = False
    stream_member_events: bool = True
    determine_input_for_members: bool = True
    """A member gets the task the leader writes (True) or the team's input as it came (False)."""
    share_member_interactions: bool = False
    """A member's input starts with the tasks and answers of the members that ran before it in this run."""
    add_team_history_to_members: bool = False
    """A member's input starts with the team's last `num_team_history_runs` runs (input and answer)."""
    num_team_history_runs: int = 3
    add_member_tools_to_context: bool = False
    """The roster names each agent member's tools."""
    get_member_information_tool: bool = False
    """Give the leader Agno's `get_member_information` tool (the roster again)."""
    task_mode: bool = False
    """Agno's `TeamMode.tasks`: the leader works a task list with Agno's tools (`kern.engine.team_tasks`)."""
    max_iterations: int = 10
    """In task mode, the most turns the leader takes over the task list."""

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, members: list[AgentSpec | TeamSpec]) -> list[AgentSpec | TeamSpec]:
        if not members:
            raise ValueError("A team needs at least one member")
        ids = [member.id for member in members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"Team members must have distinct ids; repeated: {duplicates}")
        return members

    @property
    def mode(self) -> Literal["coordinate", "route", "broadcast", "tasks"]:
        """Agno's `TeamMode` of the team: broadcast wins over route, as in Agno."""
        if self.task_mode:
            return "tasks"
        if self.delegate_to_all_members:
            return "broadcast"
        return "route" if self.respond_directly else "coordinate"

    def system_prompt(self, context: RunContext | None = None) -> str:
        """The leader's system message, as Agno builds a team's (`kern.engine.team_prompt`), for a run."""
        from kern.engine.team_prompt import team_system_message

        return team_system_message(self, context)

    def member(self, member_id: str) -> AgentSpec | TeamSpec:
        """The member with this id."""
        for member in self.members:
            if member.id == member_id:
                return member
        raise KeyError(f"No member {member_id!r}; members are {[m.id for m in self.members]}")


class RunRequest(BaseModel):
    """One run to execute."""

    input: str
    run_id: str = Field(default_factory=new_id, min_length=1, max_length=MAX_RUN_ID_CHARS)
    session_id: str = Field(default_factory=new_id)
    user_id: str | None = None
    parent_run_id: str | None = None
    stream: bool = True
    """Use the model's streaming API (events are streamed either way)."""
    session_state: dict[str, Any] | None = None
    """Merged over the session's state for this run (a member's run: its team's state)."""
    dependencies: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    yield_run_output: bool = False
    """The run's terminal event carries its `RunOutput` (`BaseRunEvent.run_output`)."""
    add_history_to_context: bool | None = None
    add_dependencies_to_context: bool | None = None
    add_session_state_to_context: bool | None = None
    """This run's choice, over the component's (`for_run`)."""
    busy_session: BusySession | None = None
    """This run's busy-session policy, over the component's."""
    resume: RunOutput | None = None
    """A PAUSED run's record with its requirements answered: this request continues that run
    (`continue_run`) instead of starting one from `input`."""


SpecT = TypeVar("SpecT", bound=ComponentSpec)
RUN_CHOICES = ("add_history_to_context", "add_dependencies_to_context", "add_session_state_to_context")
"""Options a run may set for itself, over its component's."""


def for_run(spec: SpecT, request: RunRequest) -> SpecT:
    """The spec as `request` runs it: the run's own choices (`RUN_CHOICES`) over the spec's."""
    chosen = {name: value for name in RUN_CHOICES if (value := getattr(request, name)) is not None}
    return spec.model_copy(update=chosen) if chosen else spec


def run_identity(spec: ComponentSpec, request: RunRequest) -> dict[str, Any]:
    """The fields that say whose run this is, as every event of the run and its record carry them."""
    return {
        "run_id": request.run_id,
        "session_id": request.session_id,
        "user_id": request.user_id,
        "parent_run_id": request.parent_run_id,
        f"{spec.kind}_id": spec.id,
        f"{spec.kind}_name": spec.name,
    }


def run_record(spec: ComponentSpec, request: RunRequest, **fields: Any) -> RunOutput:
    """A `RunOutput` (or `TeamRunOutput` for a team) of `spec` running `request`, with `fields` set."""
    model = {"model": spec.model.id, "model_provider": spec.model.provider}
    common = {**run_identity(spec, request), "input": request.input, **model, **fields}
    return TeamRunOutput(**common) if isinstance(spec, TeamSpec) else RunOutput(**common)
