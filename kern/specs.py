"""Plain-data descriptions of agents, teams and run requests: what crosses from a driver to an actor."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kern.db.base import BaseDb
from kern.models.base import Model
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


class ComponentSpec(BaseModel):
    """What agents and teams share."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: Literal["agent", "team"]
    id: str
    name: str
    model: Model
    description: str | None = None
    instructions: str | list[str] | None = None
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
    tools: list[Function] = Field(default_factory=list)
    tool_instructions: list[str] = Field(default_factory=list)
    """What the tools ask to add to the system message."""
    db: BaseDb | None = None
    """A `kern.db.BaseDb` that keeps this component's runs and sessions."""
    add_history_to_context: bool = False
    num_history_runs: int = 3
    max_model_calls: int = 16
    """A guard against a model that never stops calling tools."""
    ray_options: dict[str, Any] = Field(default_factory=dict)
    """Extra Ray actor options (num_cpus, resources, runtime_env, scheduling_strategy...) of each replica."""
    replicas: Replicas = Field(default_factory=default_replicas)
    """How many actors serve this component (kern.replicas)."""

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

    def system_prompt(self, context: RunContext | None = None) -> str:
        """The leader's prompt: the team's description and instructions, then who its members are."""
        roster = "\n".join(
            f"- id: {member.id} | name: {member.name} | {member.description or ''}".rstrip(" |")
            for member in self.members
        )
        how = (
            "Give the task to all members at once with delegate_task_to_members."
            if self.delegate_to_all_members
            else "Delegate tasks to the member best suited with delegate_task_to_member."
        )
        return "\n\n".join(p for p in (super().system_prompt(context), f"Team members:\n{roster}", how) if p)

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
    common = {**run_identity(spec, request), "input": request.input, "model": spec.model.id, **fields}
    return TeamRunOutput(**common) if isinstance(spec, TeamSpec) else RunOutput(**common)
