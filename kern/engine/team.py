"""The team leader's body: delegation tools that stream members' runs into the team's run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal, Protocol

from kern.engine.frames import Frame
from kern.engine.gather import gather_all
from kern.engine.loop import model_loop
from kern.engine.members import MemberTracker
from kern.engine.run import RunBody
from kern.engine.run_context import saved_state
from kern.engine.state import RunState
from kern.errors import describe
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
    """The leader's run: its own tools plus delegation, then the model loop."""

    async def body(ctx: RunState) -> None:
        ctx.tools = [*ctx.tools, delegation_tool(ctx, members)]
        await model_loop(ctx)

    return body


def delegation_tool(ctx: RunState, members: MemberRunner) -> Function:
    """`delegate_task_to_member` (member id as an enum) or, in broadcast mode, `delegate_task_to_members`."""
    team = ctx.spec
    assert isinstance(team, TeamSpec)
    if team.delegate_to_all_members:

        async def delegate_task_to_members(task: str) -> str:
            """Give a task to every member at once; they work in parallel and all answers come back.

            Args:
                task: The task, with everything the members need to know.
            """
            results = await gather_all(*(run_member(ctx, members, m.id, task) for m in team.members))
            # Agno's form, "Agent <name>: <answer>" (Agno runs them together; kern puts a blank line between).
            answers = zip(team.members, results, strict=True)
            return "\n\n".join(f"Agent {m.name}: {result}" for m, result in answers)

        return Function.from_callable(delegate_task_to_members)

    async def delegate_task_to_member(member_id: str, task: str) -> str:
        """Give a task to one member of the team and get its answer.

        Args:
            member_id: The id of the member to delegate to.
            task: The task, with everything the member needs to know.
        """
        return await run_member(ctx, members, member_id, task)

    ids = tuple(member.id for member in team.members)
    delegate_task_to_member.__annotations__ = {"member_id": Literal[ids], "task": str, "return": str}
    function = Function.from_callable(delegate_task_to_member)
    function.stop_after_call = team.respond_directly
    return function


async def run_member(ctx: RunState, members: MemberRunner, member_id: str, task: str) -> str:
    """Run one member, forwarding its events into the team's stream, and return its answer.

    The member's stream is pumped by its own task, so a cancel of the team's run does not cut it: the
    leader tells the member to cancel and waits (bounded, `drain_seconds`) for the member's own
    `RunCancelled` to be forwarded before the team's run ends. A member run that will not end in the
    stream (its stream failed, or it did not answer the cancel in time) gets a stand-in terminal event
    from the leader, for it and for its own members' runs, before the team's.
    """
    team = ctx.spec
    assert isinstance(team, TeamSpec)
    request = RunRequest(
        input=task,
        session_id=ctx.request.session_id,
        user_id=ctx.request.user_id,
        parent_run_id=ctx.run_id,
        stream=ctx.request.stream,
        session_state=saved_state(ctx.run_context),
        dependencies=ctx.run_context.dependencies if ctx.run_context else None,
    )
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
        ctx.member_responses.append(tracker.output())
    return tracker.tool_result()


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
