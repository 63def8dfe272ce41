"""What the events of a team in tasks mode carry (Agno 3.1.10's `TeamTask*` events): the leader's turns
over the task list, and each task as it is created and as its status changes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TaskData(BaseModel):
    """One task of the list, as a front end shows it (Agno's `TaskData`)."""

    id: str = ""
    title: str = ""
    description: str = ""
    status: str = "pending"
    """pending, in_progress, completed, failed or blocked."""
    assignee: str | None = None
    dependencies: list[str] = Field(default_factory=list)
    result: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskData:
        return cls.model_validate(data)


class TaskIterationPayload(BaseModel):
    """A turn of the leader over the task list began (its number counts from 1)."""

    iteration: int = 0
    max_iterations: int = 0


class TaskIterationCompletedPayload(TaskIterationPayload):
    """A turn of the leader ended: the list as it stands."""

    task_summary: str | None = None


class TaskStatePayload(BaseModel):
    """The whole task list, after each turn of the leader."""

    task_summary: str | None = None
    goal_complete: bool = False
    tasks: list[TaskData] = Field(default_factory=list)
    completion_summary: str | None = None


class TaskCreatedPayload(BaseModel):
    """The leader created a task."""

    task_id: str = ""
    title: str = ""
    description: str = ""
    assignee: str | None = None
    status: str = "pending"
    dependencies: list[str] = Field(default_factory=list)


class TaskUpdatedPayload(BaseModel):
    """A task's status changed: the leader set it, or a member began or ended it (`result` only when it
    completed or failed)."""

    task_id: str = ""
    title: str = ""
    status: str = ""
    previous_status: str | None = None
    result: str | None = None
    assignee: str | None = None
