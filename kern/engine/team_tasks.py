"""Agno 3.1.10's `TeamMode.tasks` (agno.team.task, agno.team._task_tools, agno.team._run._run_tasks).

The leader keeps a task list in the session state (`_team_tasks`), works it with Agno's task tools
(members run the tasks), and is called again, shown the list, until the goal is marked complete, every
task has completed, it answers twice in a row without a task or a tool call, or `max_iterations` runs
out. The tools' names, descriptions, schemas and answers are Agno's.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

from kern.engine.gather import gather_all
from kern.engine.loop import model_loop
from kern.engine.pause import answered, held_again, hold_if_paused
from kern.engine.state import RunState
from kern.engine.team_prompt import roster
from kern.messages import Message
from kern.run.agent import RunOutput
from kern.run.base import RunStatus, ToolExecution
from kern.run.tasks import TaskData
from kern.specs import TeamSpec
from kern.tools import Function

if TYPE_CHECKING:
    from kern.engine.team import Delegation

TASK_LIST_KEY = "_team_tasks"
"""Where the session state keeps the task list (Agno's key)."""
SETTABLE = ("pending", "in_progress", "completed", "failed")
"""The statuses `update_task_status` takes; `blocked` is the list's own."""
DESCRIPTIONS = {
    "add_task_note": "Add a note to a task for tracking progress or communicating context.",
    "create_task": "Create a new task for the team to work on.",
    "execute_task": (
        "Execute a task by delegating it to a team member. The member will receive the task\n"
        "description and return a result."
    ),
    "execute_tasks_parallel": (
        "Execute multiple independent tasks in parallel by delegating each to its assigned member.\n"
        "All tasks must be pending with no unresolved dependencies."
    ),
    "list_tasks": "List all tasks with their current status, assignees, and dependencies.",
    "mark_all_complete": "Signal that the overall goal has been achieved. Call this when all tasks are done.",
    "update_task_status": (
        "Update the status of a task. Use this to mark tasks you handle yourself as completed."
    ),
}
CONTINUE = (
    "Continue working on the tasks. Create, execute, or update tasks as needed. "
    "When the goal is met, write your answer and call `mark_all_complete`."
)


@dataclass
class Task:
    """One task of the list (Agno's `Task`, its status as text)."""

    id: str = field(default_factory=lambda: str(uuid.uuid4())[:8])
    title: str = ""
    description: str = ""
    status: str = "pending"
    assignee: str | None = None
    parent_id: str | None = None
    dependencies: list[str] = field(default_factory=list)
    result: str | None = None
    notes: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)


@dataclass
class TaskList:
    """The team's task list: tasks whose dependencies are not completed are blocked, and fail when one
    of them fails."""

    tasks: list[Task] = field(default_factory=list)
    goal_complete: bool = False
    completion_summary: str | None = None

    @classmethod
    def load(cls, state: dict[str, Any]) -> TaskList:
        """The list the session state holds, or a new one."""
        saved = state.get(TASK_LIST_KEY) or {}
        known = {each.name for each in fields(Task)}
        listed = [Task(**{k: v for k, v in each.items() if k in known}) for each in saved.get("tasks", [])]
        tasks = cls(listed, saved.get("goal_complete", False))
        tasks.completion_summary = saved.get("completion_summary")
        tasks.refresh()
        return tasks

    def save(self, state: dict[str, Any]) -> None:
        """Keep the list in the session state."""
        state[TASK_LIST_KEY] = asdict(self)

    def get(self, task_id: str) -> Task | None:
        return next((task for task in self.tasks if task.id == task_id), None)

    def all_completed(self) -> bool:
        """Every task completed (and there is one)."""
        return bool(self.tasks) and all(task.status == "completed" for task in self.tasks)

    def refresh(self) -> None:
        """Block the tasks whose dependencies are not all completed, fail those with a failed one."""
        for task in self.tasks:
            if task.status == "blocked" and self._has_failed_dependency(task):
                task.status, task.result = "failed", "Automatically failed: a dependency failed."
            elif task.status == "blocked" and not self._is_blocked(task):
                task.status = "pending"
            elif task.status == "pending" and self._is_blocked(task):
                task.status = "blocked"

    def _is_blocked(self, task: Task) -> bool:
        return any(getattr(self.get(each), "status", None) != "completed" for each in task.dependencies)

    def _has_failed_dependency(self, task: Task) -> bool:
        return any(getattr(self.get(each), "status", None) == "failed" for each in task.dependencies)

    def state(self) -> dict[str, Any]:
        """The list as a `TeamTaskStateUpdated` event carries it."""
        return {
            "task_summary": self.summary(),
            "goal_complete": self.goal_complete,
            "tasks": [TaskData.model_validate(asdict(task)) for task in self.tasks],
            "completion_summary": self.completion_summary,
        }

    def summary(self) -> str:
        """The list as the leader is shown it."""
        if not self.tasks:
            return "No tasks created yet."
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.status] = counts.get(task.status, 0) + 1
        parts = ", ".join(f"{count} {status}" for status, count in counts.items())
        lines = [f"Tasks ({len(self.tasks)} total: {parts}):"]
        for task in self.tasks:
            assignee = f" (assigned: {task.assignee})" if task.assignee else " (unassigned)"
            lines.append(f"  [{task.id}] {task.title} - {task.status.upper()}{assignee}")
            if task.dependencies:
                lines.append(f"      Depends on: {task.dependencies}")
            if task.result:
                preview = task.result[:200] + "..." if len(task.result) > 200 else task.result
                lines.append(f"      Result: {preview}")
            lines += [f"      Note: {note}" for note in task.notes[-3:]]
        if self.goal_complete and self.completion_summary:
            lines.append(f"\nGoal marked complete: {self.completion_summary}")
        return "\n".join(lines)


async def run_tasks(ctx: RunState, delegation: Delegation) -> None:
    """The leader's run in tasks mode: model turns over the task list until it is done."""
    team = ctx.spec
    assert isinstance(team, TeamSpec) and ctx.run_context is not None
    state = ctx.run_context.session_state
    tools = TaskTools(TaskList.load(state), state, delegation)
    ctx.tools = [*ctx.tools, *tools.functions()]
    ctx.resume_delegation = tools.resume
    idle_turns = 0
    for iteration in range(team.max_iterations):
        turn: dict[str, Any] = {"iteration": iteration + 1, "max_iterations": team.max_iterations}
        ctx.emit("task_iteration_started", **turn)
        calls_before = len(ctx.tool_executions)
        if iteration > 0:
            shown = f"<current_task_state>\n{TaskList.load(state).summary()}\n</current_task_state>"
            ctx.messages.append(Message(role="user", content=f"{shown}\n\n{CONTINUE}"))
        await model_loop(ctx)
        # As in Agno, the list is read back from the session state (its blocked tasks recomputed).
        tasks = TaskList.load(state)
        ctx.emit("task_state_updated", **tasks.state())
        ctx.emit("task_iteration_completed", **turn, task_summary=tasks.summary())
        if tasks.goal_complete or tasks.all_completed():
            return
        # With no tasks, the second turn in a row that calls no tool is the answer.
        idle = not tasks.tasks and len(ctx.tool_executions) == calls_before
        idle_turns = idle_turns + 1 if idle else 0
        if idle_turns >= 2:
            return


class TaskTools:
    """Agno's task tools over one task list (listed by name, the order Agno sends tools in)."""

    def __init__(self, tasks: TaskList, state: dict[str, Any], delegation: Delegation) -> None:
        self.tasks, self.state, self.delegation = tasks, state, delegation
        self.team = delegation.team
        self.ctx = delegation.ctx

    def functions(self) -> list[Function]:
        task_id, member_ids = _text("The ID of the task."), [member.id for member in self.team.members]
        return [
            _tool(self.add_task_note, task_id=task_id, note=_text("The note to add.")),
            _tool(
                self.create_task,
                ("title",),
                title=_text("A short, actionable title for the task."),
                description=_text("Detailed description of what needs to be done."),
                assignee=_text("The member_id to assign this task to. Must be a valid member_id."),
                depends_on=_ids("List of task IDs that must complete before this task can start."),
            ),
            _tool(
                self.execute_task,
                task_id=_text("The ID of the task to execute."),
                member_id={**_text("The ID of the member to execute the task."), "enum": member_ids},
            ),
            _tool(self.execute_tasks_parallel, task_ids=_ids("List of task IDs to execute concurrently.")),
            _tool(self.list_tasks),
            _tool(self.mark_all_complete, summary=_text("A summary of the work done and the final outcome.")),
            _tool(
                self.update_task_status,
                ("task_id", "status"),
                task_id=_text("The ID of the task to update."),
                status=_text("New status. One of: pending, in_progress, completed, failed."),
                result=_text("The result or outcome of the task (when completing)."),
            ),
        ]

    def _save(self, refresh: bool = False) -> None:
        """Keep the list in the session state; blocked tasks recomputed first where Agno does it (a task
        created or its status set), not when a task is run."""
        if refresh:
            self.tasks.refresh()
        self.tasks.save(self.state)

    async def create_task(
        self, title: str, description: str = "", assignee: str = "", depends_on: list[str] | None = None
    ) -> str:
        for task in self.tasks.tasks:
            if task.title.lower().strip() == title.lower().strip():
                return (
                    f"Task already exists: [{task.id}] {task.title} (status: {task.status}). Use this task "
                    "instead of creating a duplicate."
                )
        task = Task(title=title, description=description, assignee=assignee, dependencies=depends_on or [])
        self.tasks.tasks.append(task)
        self._save(refresh=True)
        self.ctx.emit(
            "task_created", task_id=task.id, title=task.title, description=task.description,
            assignee=task.assignee, status=task.status, dependencies=task.dependencies,
        )  # fmt: skip
        return f"Task created: [{task.id}] {task.title} (status: {task.status})"

    async def update_task_status(self, task_id: str, status: str, result: str | None = None) -> str:
        if status == "blocked":
            return (
                "Cannot manually set status to 'blocked'. Blocked status is managed automatically based on "
                "task dependencies."
            )
        if status not in SETTABLE:
            return f"Invalid status '{status}'. Must be one of: pending, in_progress, completed, failed."
        task = self.tasks.get(task_id)
        if task is None:
            return f"Task with ID '{task_id}' not found."
        previous = task.status
        task.status = status
        task.result = result if result is not None else task.result
        self._save(refresh=True)
        self._updated(task, previous, ended=status in ("completed", "failed"))
        return f"Task [{task.id}] '{task.title}' updated to {task.status}."

    async def list_tasks(self) -> str:
        return self.tasks.summary()

    async def add_task_note(self, task_id: str, note: str) -> str:
        task = self.tasks.get(task_id)
        if task is None:
            return f"Task with ID '{task_id}' not found."
        task.notes.append(note)
        self._save()
        return f"Note added to task [{task.id}]."

    async def mark_all_complete(self, summary: str) -> str:
        self.tasks.goal_complete, self.tasks.completion_summary = True, summary
        self._save()
        return f"Goal marked as complete. Summary: {summary}"

    async def execute_task(self, task_id: str, member_id: str) -> str:
        task = self.tasks.get(task_id)
        if task is None:
            return f"Task with ID '{task_id}' not found."
        if task.status not in ("pending", "in_progress"):
            return f"Task [{task_id}] is {task.status} and cannot be executed."
        if member_id not in {member.id for member in self.team.members}:
            return f"Member with ID {member_id} not found. Available members:\n{roster(self.team)}"
        previous = task.status
        task.status, task.assignee = "in_progress", member_id
        self._save()
        self._updated(task, previous)
        output = await self._run(task)
        hold_if_paused([output])  # (the task stays in progress: the team run pauses, `resume` ends it)
        return self._outcome(task, output)

    async def execute_tasks_parallel(self, task_ids: list[str]) -> str:
        chosen: list[Task] = []
        for task_id in task_ids:
            task = self.tasks.get(task_id)
            if task is None:
                return f"Task '{task_id}' not found."
            if task.status not in ("pending", "in_progress"):
                return f"Task [{task_id}] is {task.status}, cannot execute."
            if not task.assignee:
                return f"Task [{task_id}] has no assignee. Assign a member_id first."
            if task.assignee not in {member.id for member in self.team.members}:
                return f"Member '{task.assignee}' not found for task [{task_id}]."
            chosen.append(task)
        if not chosen:
            return "No valid tasks to execute."
        previous = [task.status for task in chosen]
        for task in chosen:
            task.status = "in_progress"
        self._save()
        for task, status in zip(chosen, previous, strict=True):
            self._updated(task, status)
        outputs = await gather_all(*(self._run(task) for task in chosen))
        hold_if_paused(outputs)  # (all the tasks wait: their outcomes are recorded once it goes on)
        return "\n".join(self._outcome(task, output) for task, output in zip(chosen, outputs, strict=True))

    async def resume(self, call: ToolExecution) -> tuple[Message, bool]:
        """Continue an `execute_task` / `execute_tasks_parallel` call whose members paused: their runs go
        on, then each task gets its outcome in the task list (Agno 3.1.10 leaves it in progress), and the
        leader is told what Agno tells it."""
        ended = await self.delegation.continue_members(call)
        if ended is None:
            return held_again(self.ctx, call)
        self.tasks = TaskList.load(self.state)  # (the run's state, as the paused record kept it)
        given = call.tool_args
        ids = (
            [str(i) for i in cast(list[object], given["task_ids"])]
            if "task_ids" in given
            else [str(given["task_id"])]
        )
        for task_id, (output, _) in zip(ids, ended, strict=True):
            if (task := self.tasks.get(task_id)) is not None:
                self._outcome(task, output)
        return answered(self.ctx, call, self.delegation.resolved(ended)), False

    async def _run(self, task: Task) -> RunOutput:
        """Run the task's assignee on it: its description (else its title), after the shared context."""
        member = self.team.member(task.assignee or "")
        description = task.description or task.title
        text = await self.delegation.shared(member, description)
        _, output = await self.delegation.run(member, description, text)
        return output

    def _outcome(self, task: Task, output: RunOutput) -> str:
        """Record what the member's run did to the task; what the leader is told."""
        if output.status is not RunStatus.completed:
            task.status, task.result = "failed", output.error or str(output.content or "") or "Task failed"
            told = f"Task [{task.id}] failed: {task.result}"
        elif output.content:
            task.status, task.result = "completed", str(output.content)
            told = f"Task [{task.id}] completed. Result: {task.result}"
        else:
            task.status, task.result = "completed", "No content returned"
            told = f"Task [{task.id}] completed with no content."
        self._save()
        self._updated(task, "in_progress", ended=True)
        return told

    def _updated(self, task: Task, previous: str, *, ended: bool = False) -> None:
        """A `TeamTaskUpdated` event: the task's result only once it has ended (as in Agno)."""
        self.ctx.emit(
            "task_updated", task_id=task.id, title=task.title, status=task.status, previous_status=previous,
            result=task.result if ended else None, assignee=task.assignee,
        )  # fmt: skip


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": f"(str) {description}"}


def _ids(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": f"(list) {description}"}


def _tool(method: Any, required: tuple[str, ...] | None = None, **properties: Any) -> Function:
    """A task tool as Agno offers it: its description, its properties, all required unless `required`
    names some."""
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }
    if properties:
        parameters["additionalProperties"] = False
    name = method.__name__
    return Function(name=name, description=DESCRIPTIONS[name], parameters=parameters, entrypoint=method)
