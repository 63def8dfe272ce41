"""How AgentOS answers a run (a run started without streaming, a run read back): Agno's
`RunOutput.to_dict()` shape, which kern's `RunOutput.to_dict()` gives. These models document it."""

from __future__ import annotations

from pydantic import Field

from kern.run.agent import RunOutput
from kern.run.base import RunInput
from kern.run.team import TeamRunOutput


class RunBody(RunOutput):
    """An agent run as AgentOS answers it (null fields left out)."""

    input: RunInput = Field(default_factory=RunInput)  # type: ignore[assignment]
    created_at: int
    """Unix seconds."""


class TeamRunBody(TeamRunOutput):
    """A team run as AgentOS answers it, its members' runs nested."""

    input: RunInput = Field(default_factory=RunInput)  # type: ignore[assignment]
    created_at: int
    member_responses: list[RunBody | TeamRunBody] = Field(default_factory=list)  # type: ignore[assignment]
