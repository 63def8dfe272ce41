"""Tool calls that wait for a person: the run pauses at them and later goes on from its record.

A model reply that calls a tool with `requires_confirmation`, `requires_user_input` or
`external_execution` runs its other tool calls, then pauses: the run ends its task with `RunPaused`
and a PAUSED record that holds the conversation and one `RunRequirement` per waiting call. Nothing of
the run stays in memory, so any replica of the component can continue it. `continue_run` sends the
record back with the answers; the run emits `RunContinued`, answers each waiting call (runs it, tells
the model it was rejected, or gives it the caller's result) and lets the model go on.

In a team, a delegation whose member runs pause holds its call (`MembersPaused`): the team pauses after
the tool batch, with its members' requirements as its own. Continuing the team continues those member
runs first (`Delegation.resume`), then the leader's model, whose delegation call gets their answers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from kern.continuation import as_members
from kern.engine.gather import gather_all
from kern.engine.state import RunState
from kern.messages import Message, ToolCall
from kern.run.agent import RunOutput
from kern.run.base import RunStatus, ToolExecution
from kern.run.requirement import RunRequirement
from kern.run.team import TeamRunOutput
from kern.tools import Function
from kern.tools.function import ToolArgumentsError

REJECTED = "Function call was rejected by the user"
"""What the model is told of a rejected call without a note (Agno's words)."""

ToolRunner = Callable[
    [RunState, Function | None, ToolCall, ToolExecution | None], Awaitable[tuple[Message, bool]]
]
"""The model loop's way to run one tool call (given the execution to fill in, when it exists)."""


class RunPaused(Exception):
    """The model loop stopped at tool calls that wait for a person (`RunState.requirements`)."""


class MembersPaused(Exception):
    """A team's delegation call ended with member runs that paused: the call waits for them."""

    def __init__(self, member_run_ids: list[str]) -> None:
        super().__init__(", ".join(member_run_ids))
        self.member_run_ids = member_run_ids


def held_again(ctx: RunState, call: ToolExecution) -> tuple[Message, bool]:
    """A continued call whose members paused again: it waits on (the team run pauses again)."""
    call.waiting_for_members = True
    ctx.tool_executions.append(call)
    return Message(role="tool", tool_call_id=call.tool_call_id, name=call.tool_name, content=""), False


def answered(ctx: RunState, call: ToolExecution, text: str) -> Message:
    """A continued call that has its answer: the leader's model gets `text`."""
    call.waiting_for_members, call.result = False, text
    ctx.tool_executions.append(call)
    ctx.emit("tool_completed", tool=call, content=text)
    return Message(role="tool", tool_call_id=call.tool_call_id, name=call.tool_name, content=text)


def hold_if_paused(outputs: list[RunOutput]) -> None:
    """A delegation whose member runs paused waits for them: the team run pauses after this tool batch."""
    if any(output.status is RunStatus.paused for output in outputs):
        raise MembersPaused([output.run_id for output in outputs])


def waits(function: Function | None, call: ToolCall) -> bool:
    """Whether this call pauses the run: its tool waits for a person and its arguments are usable (bad
    arguments go back to the model as for any tool)."""
    if function is None or not function.pauses:
        return False
    try:
        _arguments(function, call)
    except ToolArgumentsError:
        return False
    return True


def pause(ctx: RunState, calls: list[tuple[Function, ToolCall]]) -> RunPaused:
    """Record the waiting calls and their requirements (a team's: those of its paused members too); the
    exception for the loop to raise."""
    requirements = members_requirements(ctx)
    for function, call in calls:
        arguments = _arguments(function, call)
        execution = ToolExecution(tool_call_id=call.id, tool_name=call.name, tool_args=arguments)
        if function.requires_confirmation:
            execution.requires_confirmation = True
        elif function.requires_user_input:
            execution.requires_user_input = True
            execution.user_input_schema = function.user_input_schema(execution.tool_args)
        else:
            execution.external_execution_required = True
        ctx.tool_executions.append(execution)
        requirements.append(RunRequirement(tool_execution=execution))
    ctx.requirements = requirements
    return RunPaused(", ".join(call.name for _, call in calls))


def members_requirements(ctx: RunState) -> list[RunRequirement]:
    """What a team run's paused members wait for, each requirement saying which member."""
    held = {
        run_id
        for tool in ctx.tool_executions
        if tool.waiting_for_members
        for run_id in tool.member_run_ids or []
    }
    return [
        requirement
        for member in ctx.member_responses
        if member.run_id in held and member.status is RunStatus.paused
        for requirement in as_members(member, member.active_requirements)
    ]


def held_by_members(ctx: RunState) -> bool:
    """Whether a delegation call of the run waits for paused members."""
    return any(tool.waiting_for_members for tool in ctx.tool_executions)


def restore(ctx: RunState, record: RunOutput) -> None:
    """Take up a paused run where its record left it."""
    if isinstance(record, TeamRunOutput):
        ctx.member_responses = [member.model_copy(deep=True) for member in record.member_responses]
    ctx.messages = [message.model_copy() for message in record.messages]
    ctx.content = record.content
    ctx.tool_executions = [tool.model_copy(deep=True) for tool in record.tools]
    ctx.requirements = record.requirements
    ctx.metrics = record.metrics.model_copy()
    ctx.created_at = record.created_at


async def answer_waiting_calls(ctx: RunState, run_tool: ToolRunner) -> str | None:
    """Answer the calls the run paused at, as the record says; the answer if a call ends the run
    (`stop_after_tool_call`)."""
    by_name = {function.name: function for function in ctx.tools}
    waiting = [tool for tool in ctx.tool_executions if tool.is_paused]
    ctx.tool_executions = [tool for tool in ctx.tool_executions if not tool.is_paused]
    results = await gather_all(
        *(_answer(ctx, by_name.get(tool.tool_name), tool, run_tool) for tool in waiting)
    )
    ctx.messages.extend(message for message, _ in results)
    final = [message.content for message, stop in results if stop]
    return "\n\n".join(str(text) for text in final) if final else None


async def _answer(
    ctx: RunState, function: Function | None, tool: ToolExecution, run_tool: ToolRunner
) -> tuple[Message, bool]:
    arguments = dict(tool.tool_args)
    if tool.waiting_for_members:
        assert ctx.resume_delegation is not None, "only a team's run waits for members"
        return await ctx.resume_delegation(tool)
    if tool.requires_confirmation:
        tool.requires_confirmation = False
        if not tool.confirmed:
            tool.confirmed = False
            return _without_running(ctx, tool, tool.confirmation_note or REJECTED, error=True)
    elif tool.external_execution_required:
        tool.external_execution_required = False
        return _without_running(ctx, tool, tool.result or "", error=False)
    elif tool.requires_user_input:
        tool.requires_user_input, tool.answered = False, True
        arguments.update({field.name: field.value for field in tool.user_input_schema or []})
    call = ToolCall(id=tool.tool_call_id, name=tool.tool_name, arguments=json.dumps(arguments, default=str))
    return await run_tool(ctx, function, call, tool)


def _without_running(ctx: RunState, tool: ToolExecution, text: str, *, error: bool) -> tuple[Message, bool]:
    if error:
        tool.error = text
    else:
        tool.result = text
    ctx.tool_executions.append(tool)
    return Message(role="tool", tool_call_id=tool.tool_call_id, name=tool.tool_name, content=text), False


def _arguments(function: Function, call: ToolCall) -> dict[str, object]:
    """The model's arguments: validated, except for a call that waits for a person's values (those the
    model does not see are missing until then)."""
    if not function.requires_user_input:
        return function.parse_arguments(call.arguments)
    try:
        raw = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ToolArgumentsError(f"Arguments for {function.name} are not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ToolArgumentsError(f"Arguments for {function.name} must be a JSON object, got {raw!r}")
    return raw
