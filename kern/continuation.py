"""`continue_run`'s request: a paused run's record with the caller's answers, checked before it is sent.

The answers may come as the record itself (its requirements or tools changed in place, as Agno's
examples do), as `requirements`, or as `updated_tools` (AgentOS sends the tools as JSON); for each
waiting tool call the last of those that names it wins. A call left unanswered is an error that names
it, raised before anything runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from kern.run.agent import RunOutput
from kern.run.base import RunStatus, ToolExecution
from kern.run.requirement import RunRequirement
from kern.run.team import TeamRunOutput
from kern.sessions import database, owner_id
from kern.specs import ComponentSpec, RunRequest

REMEMBERED = 256
"""Paused records this process keeps of the runs it saw pause, for `continue_run(run_id=...)` without a
db (as Agno keeps its sessions in memory); a db is the way to continue from another process."""

_seen: OrderedDict[str, RunOutput] = OrderedDict()
_seen_lock = threading.Lock()


class NotPausedError(ValueError):
    """The run to continue is not PAUSED (or is not there)."""


class AlreadyContinuing(NotPausedError):
    """Another `continue_run` of the same paused run is under way: a confirmed tool never runs twice."""


def remember(record: RunOutput) -> None:
    """Keep the record of a run this process saw pause (the latest `REMEMBERED` of them)."""
    if record.status is not RunStatus.paused:
        return
    with _seen_lock:
        _seen[record.run_id] = record
        _seen.move_to_end(record.run_id)
        while len(_seen) > REMEMBERED:
            _seen.popitem(last=False)


def paused_record(
    spec: ComponentSpec, run_response: RunOutput | None, run_id: str | None, session_id: str | None
) -> RunOutput:
    """The record to continue: `run_response`, else the run `run_id` read from the component's db."""
    if run_response is not None:
        record = run_response
    elif run_id:
        with _seen_lock:
            found = _seen.get(run_id)
        if spec.db is not None:
            found = database(spec).get_run(run_id)
        if found is None or (session_id is not None and found.session_id != session_id):
            where = "in its database" if spec.db is not None else "seen by this process (it has no db)"
            raise NotPausedError(f"No run {run_id!r} of {spec.name!r} {where}")
        record = found
    else:
        raise ValueError("continue_run needs the paused run: run_response=... or run_id=...")
    owner = getattr(record, f"{spec.kind}_id", None)
    if owner != spec.id:
        raise NotPausedError(f"Run {record.run_id!r} is not a run of {spec.name!r}")
    if record.status is not RunStatus.paused:
        raise NotPausedError(
            f"Run {record.run_id!r} is {record.status.value}, not PAUSED: only a paused run can be continued"
        )
    return record


def answered(
    record: RunOutput,
    requirements: Sequence[RunRequirement] | None = None,
    updated_tools: Sequence[ToolExecution] | None = None,
) -> RunOutput:
    """A copy of `record` whose waiting tool calls carry the answers; an error naming any left open."""
    answers: dict[str, ToolExecution] = {}
    for source in (
        [requirement.tool_execution for requirement in record.requirements or []],
        list(updated_tools or []),
        [requirement.tool_execution for requirement in requirements or []],
    ):
        answers.update({tool.tool_call_id: tool for tool in source if tool.is_paused})
    copy = record.model_copy(deep=True)
    tools = [_answer(tool, answers.get(tool.tool_call_id)) if tool.is_paused else tool for tool in copy.tools]
    ids = {
        requirement.tool_execution.tool_call_id: requirement.id for requirement in record.requirements or []
    }
    opened = [
        RunRequirement(tool_execution=tool)
        for tool in tools
        if tool.is_paused and not tool.waiting_for_members
    ]
    for requirement in opened:  # (the same ids as the caller was given)
        requirement.id = ids.get(requirement.tool_execution.tool_call_id, requirement.id)
    left = [requirement for requirement in opened if not requirement.is_resolved()]
    if isinstance(copy, TeamRunOutput):  # (a paused member's calls are answered in its own record)
        given = [*(record.requirements or []), *(requirements or [])]
        for index, member in enumerate(copy.member_responses):
            if member.status is RunStatus.paused:
                try:
                    member = copy.member_responses[index] = answered(member, given, updated_tools)
                except ValueError:
                    member = copy.member_responses[index]
                    left += [r for r in as_members(member, member.active_requirements)]
                    continue
                opened += as_members(member, member.requirements or [])
    if left:
        named = ", ".join(f"{r.tool_execution.tool_name} ({r.pause_type})" for r in left)
        raise ValueError(f"Run {record.run_id!r} still waits for: {named}; answer every requirement first")
    copy.tools, copy.requirements = tools, opened
    return copy


def as_members(member: RunOutput, requirements: list[RunRequirement]) -> list[RunRequirement]:
    """A member run's requirements as its team lists them: saying which member (the innermost)."""
    return [
        requirement
        if requirement.member_run_id is not None
        else requirement.model_copy(
            update={
                "member_agent_id": owner_id(member),
                "member_agent_name": getattr(member, "team_name", None) or member.agent_name,
                "member_run_id": member.run_id,
            }
        )
        for requirement in requirements
    ]


def cancel_paused(spec: ComponentSpec, run_id: str) -> bool:
    """End a PAUSED run of `spec` as CANCELLED (its stored record, and this process's copy); True if it
    was paused. A paused run holds no task, so this is all a cancel has to do."""
    with _seen_lock:
        record = _seen.pop(run_id, None)
    if spec.db is not None:
        record = spec.db.get_run(run_id)
    if (
        record is None
        or record.status is not RunStatus.paused
        or getattr(record, f"{spec.kind}_id", None) != spec.id
    ):
        return False
    if spec.db is not None:
        spec.db.save_runs(_cancelled(record))
    return True


def _cancelled(record: RunOutput) -> list[RunOutput]:
    """A paused run and the member runs it waits for, each as CANCELLED, members first."""
    members = getattr(record, "member_responses", [])
    paused = [run for member in members if member.status is RunStatus.paused for run in _cancelled(member)]
    update: dict[str, object] = {"status": RunStatus.cancelled}
    if members:
        update["member_responses"] = [
            member.model_copy(update={"status": RunStatus.cancelled})
            if member.status is RunStatus.paused
            else member
            for member in members
        ]
    return [*paused, record.model_copy(update=update)]


def continue_request(record: RunOutput, *, stream: bool, user_id: str | None = None) -> RunRequest:
    """The request that resumes `record` (already `answered`) under its own run and session ids."""
    assert record.session_id is not None, "a stored run always has a session"
    return RunRequest(
        input=record.input,
        run_id=record.run_id,
        session_id=record.session_id,
        user_id=user_id or record.user_id,
        stream=stream,
        resume=record,
    )


def _answer(tool: ToolExecution, answer: ToolExecution | None) -> ToolExecution:
    """The waiting call with the caller's answer to it (only what a caller may set)."""
    if answer is None:
        return tool
    return tool.model_copy(
        update={
            "confirmed": answer.confirmed,
            "confirmation_note": answer.confirmation_note,
            "user_input_schema": answer.user_input_schema or tool.user_input_schema,
            "answered": answer.answered,
            "result": answer.result if tool.external_execution_required else tool.result,
        },
        deep=True,
    )
