"""Play a scenario on a `LocalLink`: members' streams fail on cue, the cancel comes as planned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from unittest.mock import patch

from kern.engine import team as team_module
from kern.engine.frames import Frame
from kern.engine.host import RunHost
from kern.engine.inbox import LinkBroken
from kern.engine.local import LocalLink, LocalMembers
from kern.engine.outbox import Outbox
from kern.engine.run import Gate
from kern.engine.team import MemberRunner
from kern.models.scripted import cue
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.specs import ComponentSpec, RunRequest, TeamSpec
from tests.engine.scenarios import CANCEL_CUE, Fault, Scenario

DRAIN_SECONDS = 0.01
"""The leader's wait for a cancelled member's own terminal event (5 s in production)."""
SILENCE_SECONDS = 0.02
"""How long a hung (deaf) member stays silent before the idle timeout fires."""
STREAM_TIMEOUT_SECONDS = 1.0
"""A stream that has not ended by then never will: its top run's terminal event went missing."""


class RecordingHost(RunHost):
    """A `RunHost` that keeps each run's task (for its record) and can cancel the first run at once."""

    def __init__(self, cancel_first: bool) -> None:
        super().__init__()
        self.tasks: dict[str, asyncio.Task[RunOutput]] = {}
        self.answers: list[tuple[str, bool]] = []
        self._cancel_first = cancel_first

    def start(
        self,
        spec: ComponentSpec,
        request: RunRequest,
        outbox: Outbox,
        *,
        members: MemberRunner | None = None,
        gate: Gate | None = None,
    ) -> asyncio.Task[RunOutput]:
        task = super().start(spec, request, outbox, members=members, gate=gate)
        self.tasks[request.run_id] = task
        if self._cancel_first:
            self._cancel_first = False
            self.answers.append((request.run_id, self.cancel(request.run_id)))
        return task


class FaultyLink(LocalLink):
    """A local link whose members' streams fail as the scenario says."""

    def __init__(self, host: RecordingHost, faults: dict[str, Fault]) -> None:
        super().__init__(host)
        self.faults = faults
        self.faulted: set[str] = set()
        """Member runs whose stream failed."""
        self.deaf: set[str] = set()
        """Member runs that no longer answer cancels."""

    def members(self, team: TeamSpec) -> MemberRunner:
        return FaultyMembers(team, self)


class FaultyMembers(LocalMembers):
    """Members on the local link, with the scenario's stream faults."""

    link: FaultyLink

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[Frame]]:
        fault = self.link.faults.get(member_id)
        seen = 0
        async with aclosing(super().run(member_id, request)) as stream:
            async for frames in stream:
                if fault is None or seen + len(frames) <= fault.at:
                    seen += len(frames)
                    yield frames
                    continue
                head = frames[: fault.at - seen]
                if head:
                    yield head
                self.link.faulted.add(request.run_id)
                await self._fail(fault, request.run_id)
                return

    async def _fail(self, fault: Fault, run_id: str) -> None:
        if fault.kind == "break":
            raise LinkBroken(f"the actor of run {run_id} died")
        if fault.kind == "deaf":
            self.link.deaf.add(run_id)
            # A hung member is a cancel instant too: a cue plan's cancel may come while it hangs.
            arrived = asyncio.ensure_future(cue(CANCEL_CUE).hold())
            try:
                await asyncio.sleep(SILENCE_SECONDS)
            finally:
                arrived.cancel()
        if fault.kind in ("silent", "deaf"):
            raise TimeoutError(f"no event from run {run_id} for 900 s")

    async def cancel(self, member_id: str, run_id: str) -> None:
        if run_id not in self.link.deaf:
            await super().cancel(member_id, run_id)


@dataclass
class Outcome:
    """What a played scenario produced."""

    scenario: Scenario
    run_id: str
    events: list[BaseRunEvent]
    answers: list[tuple[str, bool]]
    """Every cancel the test made, and its answer."""
    records: dict[str, RunOutput]
    """Every run's own record (what `execute_run` returned), by run id."""
    faulted: set[str]
    settled: bool
    """No run was left running once the stream had ended."""


def play(scenario: Scenario) -> Outcome:
    """Run the scenario to its end in a fresh event loop."""
    with patch.object(team_module, "MEMBER_DRAIN_SECONDS", DRAIN_SECONDS):
        return asyncio.run(_play(scenario))


async def _play(scenario: Scenario) -> Outcome:
    plan = scenario.plan
    host = RecordingHost(cancel_first=plan.when == "start")
    link = FaultyLink(host, scenario.faults)
    request = RunRequest(input="Go")
    events: list[BaseRunEvent] = []
    answers = host.answers

    async def consume() -> None:
        async for event in link.events(scenario.top.spec(), request):
            events.append(event)
            if plan.when == "event" and len(events) == plan.event:
                target = event.run_id if plan.member else request.run_id
                answers.append((target, link.cancel(target)))

    consumer = asyncio.create_task(consume())
    if plan.when == "cue":
        held = asyncio.create_task(cue(CANCEL_CUE).reached())
        await asyncio.wait({held, consumer}, return_when=asyncio.FIRST_COMPLETED)
        if held.done():
            if plan.ticks:
                cue(CANCEL_CUE).release()
                for _ in range(plan.ticks):
                    await asyncio.sleep(0)
            running = host.run_ids()
            target = running[-1] if plan.member and running else request.run_id
            answers.append((target, link.cancel(target)))
        held.cancel()
        cue(CANCEL_CUE).release()
    try:
        await asyncio.wait_for(consumer, STREAM_TIMEOUT_SECONDS)
    except TimeoutError:
        pass  # the checks say what is missing from the stream
    settled = await _settle(host)
    link.outbox.close()
    if plan.when == "after":
        answers.extend((run_id, link.cancel(run_id)) for run_id in host.tasks)
    records = {run_id: task.result() for run_id, task in host.tasks.items() if task.done()}
    return Outcome(scenario, request.run_id, events, answers, records, link.faulted, settled)


async def _settle(host: RunHost, seconds: float = 0.5) -> bool:
    """Wait (bounded) for every run to end: members cut off by their leader end when their link closes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while host.run_ids() and loop.time() < deadline:  # noqa: ASYNC110 (nothing to wait on but the runs)
        await asyncio.sleep(0.001)
    return not host.run_ids()
