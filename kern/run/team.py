"""A team run's events (`TeamRunEvent`, `TeamRunContentEvent`...: see `kern.run.events`) and its output."""

from __future__ import annotations

from pydantic import Field

from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.run.events import TEAM_EVENTS
from kern.run.names import TeamRunEvent
from kern.run.tasks import TaskData

AGNO_NAMES: dict[str, type[BaseRunEvent]] = {
    cls.__name__.removeprefix("Team"): cls for cls in TEAM_EVENTS.values()
}
"""The team event classes by Agno's names in `agno.run.team` (`RunContentEvent` is the team's)."""

__all__ = [
    "TaskData", "TeamRunEvent", "TeamRunOutput", *(cls.__name__ for cls in TEAM_EVENTS.values()), *AGNO_NAMES,
]  # fmt: skip


def __getattr__(name: str) -> type[BaseRunEvent]:
    """The team event classes, by name (`TeamRunContentEvent`) or by Agno's (`RunContentEvent`)."""
    for cls in TEAM_EVENTS.values():
        if cls.__name__ == name:
            return cls
    if name in AGNO_NAMES:
        return AGNO_NAMES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TeamRunOutput(RunOutput):
    """The record of one team run, with its members' runs."""

    agent_id: str = ""
    agent_name: str = ""
    team_id: str
    team_name: str
    member_responses: list[RunOutput | TeamRunOutput] = Field(default_factory=list)
