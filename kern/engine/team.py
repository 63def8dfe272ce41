"""The team leader's body: Agno's delegation tools, which stream members' runs into the team's run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from kern.db import reader
from kern.engine.frames import Frame
from kern.engine.gather import gather_all
from kern.engine.loop import model_loop
from kern.engine.members import MemberTracker
from kern.engine.pause import answered, held_again, hold_if_paused
from kern.engine.run import START_WAIT_SECONDS, RunBody
from kern.engine.run_context import merge_changes, saved_state
from kern.engine.state import RunState
from kern.engine.team_prompt import history_text, interactions_text, member_input, roster
from kern.engine.team_tasks import run_tasks
from kern.errors import describe
from kern.messages import Message
from kern.run.agent import RunOutput
from kern.run.base import RunStatus, ToolExecution
from kern.run.team import TeamRunOutput
from kern.sessions import owner_id
from kern.specs import AgentSpec, RunRequest, TeamSpec
from kern.tools import Function

MEMBER_DRAIN_SECONDS = 5.0
"""After the team's run is cancelled, how long to wait for a member's own `RunCancelled` (per level of
nesting below the member: `drain_seconds`)."""


class MemberRunner(Protocol):
    """How a leader reaches its members: in-process, or on their Ray actors."""

    def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[Frame]]:
        """Start a member's run and yield its frames (its own members' too) until its terminal frame."""
        ...

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Ask the member to cancel its run."""
        ...


def team_body(members: MemberRunner) -> RunBody:
    """The leader's run: its own tools plus Agno's delegation tools, then the model loop (in tasks mode,
    Agno's task tools and turns over the task list: `kern.engine.team_tasks`)."""

    async def body(ctx: RunState) -> None:
        delegation = Delegation(ctx, members)
        if delegation.team.mode == "tasks":
            await run_tasks(ctx, delegation)
            return
        ctx.tools = [*ctx.tools, *delegation.tools()]
        ctx.resume_delegation = delegation.resume
        await model_loop(ctx)

    return body


class Delegation:
    """One team run's delegation tools, as Agno 3.1.10 offers them, and what each member is given: the
    leader's task (or the team's input), after the interactions of earlier members and the team's
    history when the team shares them."""

    def __init__(self, ctx: RunState, members: MemberRunner) -> None:
        assert isinstance(ctx.spec, TeamSpec)
        self.ctx, self.members, self.team = ctx, members, ctx.spec
        self.team_input = next((m.content for m in reversed(ctx.messages) if m.role == "user"), "")
        """The team's input as its model got it (what members get without `determine_input_for_members`)."""
        self.interactions: list[tuple[str, str, RunOutput]] = []
        """(member name, task, run) of each member that answered in this run, in order."""
        self._histories: dict[str | None, str] = {}

    def tools(self) -> list[Function]:
        """`delegate_task_to_member` (`delegate_task_to_members` in broadcast mode), and
        `get_member_information` when the team asks for it."""
        return leader_tools(self.team, self._delegate, self._broadcast)

    async def _delegate(self, member_id: str, task: str) -> str:
        member = next((m for m in self.team.members if m.id == member_id), None)
        if member is None:
            return (
                f"Member with ID {member_id} not found in the team or any subteams. Please choose the "
                f"correct member from the list of members:\n\n{roster(self.team)}"
            )
        result, output = await self.run(member, task, await self._input(member, task))
        hold_if_paused([output])
        return result

    async def _broadcast(self, task: str) -> str:
        members = self.team.members
        texts = [await self._input(member, task) for member in members]
        ran = await gather_all(*(self.run(m, task, text) for m, text in zip(members, texts, strict=True)))
        hold_if_paused([output for _, output in ran])
        return _broadcast_answer([(m.name, result) for m, (result, _) in zip(members, ran, strict=True)])

    async def resume(self, call: ToolExecution) -> tuple[Message, bool]:
        """Continue a delegation call whose members paused: their runs go on with the answers they were
        given (at once, in broadcast mode), and the leader is told what it would have been told."""
        ended = await self.continue_members(call)
        if ended is None:
            return held_again(self.ctx, call)
        stop = self.team.mode == "route" and call.tool_name == "delegate_task_to_member"
        text = ended[0][1] if stop else self.resolved(ended)
        return answered(self.ctx, call, text), stop

    def resolved(self, ended: list[tuple[RunOutput, str]]) -> str:
        """What the leader is told of a call once its paused members have gone on (Agno's words)."""
        answers = [(self.team.member(owner_id(record) or "").name, said) for record, said in ended]
        return _resolved_answer(answers)

    async def continue_members(self, call: ToolExecution) -> list[tuple[RunOutput, str]] | None:
        """Continue the paused member runs a call waits for; then, in the call's order, each member run's
        record and what it answered (None if one paused again: the call waits on)."""
        ctx, held = self.ctx, call.member_run_ids or []
        records = {record.run_id: record for record in ctx.member_responses if record.run_id in held}
        paused = [records[run_id] for run_id in held if records[run_id].status is RunStatus.paused]
        ctx.member_responses = [record for record in ctx.member_responses if record not in paused]
        ran = await gather_all(*(_continue_member(ctx, self.members, record) for record in paused))
        if any(output.status is RunStatus.paused for _, output in ran):
            return None
        continued = {
            record.run_id: (output, said) for record, (said, output) in zip(paused, ran, strict=True)
        }
        return [continued.get(run_id) or (records[run_id], _said(records[run_id])) for run_id in held]

    async def _input(self, member: AgentSpec | TeamSpec, task: str) -> str:
        """What `member` is given when the leader delegates `task`."""
        return await self.shared(member, task if self.team.determine_input_for_members else self.team_input)

    async def shared(self, member: AgentSpec | TeamSpec, text: str) -> str:
        """`text` after what the team shares with `member`: earlier members' interactions in this run and
        the team's history, when the team shares them."""
        team = self.team
        interactions = interactions_text(self.interactions) if team.share_member_interactions else ""
        history = await self._history(member) if team.add_team_history_to_members else ""
        return member_input(text, interactions, history)

    async def run(self, member: AgentSpec | TeamSpec, task: str, text: str) -> tuple[str, RunOutput]:
        """Run `member` on `text` (given for `task`), and note the interaction; what the leader's model is
        told, and the member's run."""
        result, output = await run_member(self.ctx, self.members, member.id, text)
        self.interactions.append((member.name, task, output))
        return result, output

    async def _history(self, member: AgentSpec | TeamSpec) -> str:
        """The team's last runs of the session, for an agent; a sub-team's own last runs, for a sub-team
        (as Agno's `get_team_history_context`). Read once per run."""
        key = member.id if isinstance(member, TeamSpec) else None
        if key not in self._histories:
            self._histories[key] = history_text(await _history_runs(self.ctx, key))
        return self._histories[key]


MEMBER_ID = {
    "type": "string",
    "description": (
        "(str) The ID of the member to delegate the task to, exactly as it appears in <team_members>."
    ),
}
DELEGATED_TASK = {
    "type": "string",
    "description": (
        "(str) A clear and concise description of the task the member should achieve, including what a good "
        "result looks like."
    ),
}
BROADCAST_TASK = {
    "type": "string",
    "description": (
        "(str) A clear and concise description of the task to send to member agents, including what a good "
        "result looks like."
    ),
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameters as Agno sends a team's: every property required, no others."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def leader_tools(
    team: TeamSpec,
    delegate: Callable[[str, str], Awaitable[str]] | None = None,
    broadcast: Callable[[str], Awaitable[str]] | None = None,
) -> list[Function]:
    """The delegation tools a team's leader is offered (coordinate, route and broadcast modes), as Agno
    3.1.10 names, describes and shapes them; without `delegate` / `broadcast`, as definitions only (what
    `GET /teams` describes)."""
    if team.mode == "broadcast":
        tools = [
            Function(
                name="delegate_task_to_members",
                description=(
                    "Use this function to send one task to every member agent and return their responses.\n"
                    "One call reaches all members; do not call it once per member."
                ),
                parameters=_object({"task": BROADCAST_TASK}),
                entrypoint=broadcast or _described_only,
            )
        ]
    else:
        # kern adds the members' ids as an `enum`: a model cannot name a member that is not there.
        member_id = {**MEMBER_ID, "enum": [member.id for member in team.members]}
        tools = [
            Function(
                name="delegate_task_to_member",
                description="Use this function to delegate a task to the selected team member.",
                parameters=_object({"member_id": member_id, "task": DELEGATED_TASK}),
                entrypoint=delegate or _described_only,
                stop_after_call=team.mode == "route",
            )
        ]
    if team.get_member_information_tool:
        tools.append(_member_information_tool(team))
    return tools


async def _described_only(**_: Any) -> str:
    raise RuntimeError("a tool made to be described is not called")


def _member_information_tool(team: TeamSpec) -> Function:
    async def get_member_information() -> str:
        return roster(team)

    parameters = {"type": "object", "properties": {}, "required": []}
    return Function(name="get_member_information", parameters=parameters, entrypoint=get_member_information)


async def _history_runs(ctx: RunState, team_id: str | None) -> Sequence[RunOutput]:
    """The completed runs of the session for a member's team history: the top-level ones (`team_id`
    None), or those of the team `team_id` wherever it ran; the last `num_team_history_runs`."""
    team, session_id = ctx.spec, ctx.request.session_id
    assert isinstance(team, TeamSpec)
    count = team.num_team_history_runs
    if team.db is None or count <= 0:
        return []
    if team_id is None:
        return await reader.read(
            team.db, lambda d: d.get_history(session_id, None, count), START_WAIT_SECONDS
        )
    runs = await reader.read(team.db, lambda d: d.get_session_runs(session_id), START_WAIT_SECONDS)
    done = RunStatus.completed
    return [r for r in _team_runs(runs) if r.team_id == team_id and r.status is done][-count:]


def _team_runs(runs: list[RunOutput]) -> list[TeamRunOutput]:
    """The team runs among `runs` and their members' runs, each before its members'."""
    found: list[TeamRunOutput] = []
    for run in runs:
        if isinstance(run, TeamRunOutput):
            found += [run, *_team_runs(run.member_responses)]
    return found


async def run_member(
    ctx: RunState, members: MemberRunner, member_id: str, text: str, resume: RunOutput | None = None
) -> tuple[str, RunOutput]:
    """Run one member on `text`, forwarding its events into the team's stream; what the leader's model is
    told, and the member's run as the team's record keeps it.

    The member's stream is pumped by its own task, so a cancel of the team's run does not cut it: the
    leader tells the member to cancel and waits (bounded, `drain_seconds`) for the member's own
    `RunCancelled` to be forwarded before the team's run ends. A member run that will not end in the
    stream (its stream failed, or it did not answer the cancel in time) gets a stand-in terminal event
    from the leader, for it and for its own members' runs, before the team's.
    """
    team = ctx.spec
    assert isinstance(team, TeamSpec)
    request = RunRequest(
        input=text,
        session_id=ctx.request.session_id,
        user_id=ctx.request.user_id,
        parent_run_id=ctx.run_id,
        stream=ctx.request.stream,
        session_state=saved_state(ctx.run_context),
        dependencies=ctx.run_context.dependencies if ctx.run_context else None,
        metadata=ctx.run_context.metadata if ctx.run_context else None,
        add_dependencies_to_context=team.add_dependencies_to_context,
        add_session_state_to_context=team.add_session_state_to_context,
    )
    if resume is not None:  # (the member's paused run goes on, under its own id)
        request = request.model_copy(update={"run_id": resume.run_id, "resume": resume})
    member = team.member(member_id)
    tracker = MemberTracker(member, request)
    pump = asyncio.create_task(_pump(ctx, members.run(member_id, request), tracker))
    try:
        await asyncio.shield(pump)
    except asyncio.CancelledError:
        if not pump.done():
            # The leader is the one that cancels its member (the supervisor tells only the run's owner);
            # not awaited, so a slow answer cannot delay the drain, which waits for the RunCancelled.
            asking = asyncio.ensure_future(members.cancel(member_id, request.run_id))
            asking.add_done_callback(_ignore_failure)
            drain = drain_seconds(member)
            await asyncio.wait({pump}, timeout=drain)
            if not pump.done():
                pump.cancel()
                tracker.cut(f"{member.name} did not answer the cancel within {drain:g} s")
        raise
    finally:
        if team.stream_member_events:
            ctx.forward(tracker.stand_ins(), urgent=True)
        output = tracker.output()
        ctx.member_responses.append(output)
        if ctx.run_context is not None and tracker.session_state is not None:
            merge_changes(ctx.run_context.session_state, request.session_state or {}, tracker.session_state)
    return tracker.tool_result(), output


def _broadcast_answer(answers: list[tuple[str, str]]) -> str:
    """Agno's form, "Agent <name>: <answer>" (Agno runs them together; kern puts a blank line between)."""
    return "\n\n".join(f"Agent {name}: {result}" for name, result in answers)


def _resolved_answer(answers: list[tuple[str, str]]) -> str:
    """What the leader is told of its delegation once the paused members have gone on (Agno's words)."""
    lines = [f"[{name}]: {result or 'Task completed'}" for name, result in answers]
    return "\n".join(["Member results after human-in-the-loop resolution:", *lines])


def _said(record: RunOutput) -> str:
    """What the leader is told of a member run that ended in an earlier part of the team run."""
    return (
        str(record.content)
        if record.status is RunStatus.completed
        else f"{record.status.value}: {record.error or ''}"
    )


async def _continue_member(ctx: RunState, members: MemberRunner, record: RunOutput) -> tuple[str, RunOutput]:
    """Continue a member run that paused (its record carries the answers), in the team's stream."""
    return await run_member(ctx, members, owner_id(record) or "", record.input, resume=record)


def drain_seconds(member: AgentSpec | TeamSpec) -> float:
    """How long a leader waits for a cancelled member's own terminal event: a team member gets the time
    its own members' drains take, so its stand-ins come from it, not from above."""
    if isinstance(member, TeamSpec):
        return MEMBER_DRAIN_SECONDS + max(drain_seconds(m) for m in member.members)
    return MEMBER_DRAIN_SECONDS


async def _pump(ctx: RunState, stream: AsyncIterator[list[Frame]], tracker: MemberTracker) -> None:
    forward = isinstance(ctx.spec, TeamSpec) and ctx.spec.stream_member_events
    try:
        async for frames in stream:
            silent = not tracker.content
            tracker.observe(frames)
            if forward:
                ctx.forward(frames, urgent=silent and bool(tracker.content))  # the member's first token
    except TimeoutError as exc:
        tracker.fail(f"the member's stream went silent: {exc}", "MemberSilent")
    except Exception as exc:
        tracker.fail(f"the member's stream broke: {describe(exc)}", "MemberLost")
    tracker.fail("the member's stream ended without a terminal event", "MemberLost")


def _ignore_failure(future: asyncio.Future[None]) -> None:
    """An unreachable member still gets its error event from the pump; its cancel's failure is moot."""
    if not future.cancelled():
        future.exception()
