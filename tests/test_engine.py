"""The run loops in one process, without Ray: the same engine the actors host."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from kern.engine.host import RunHost
from kern.engine.local import LocalMembers
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.run.team import TeamRunEvent
from kern.specs import AgentSpec, RunRequest, TeamSpec
from tests.support import assert_one_terminal_last, model, names


def team_spec(server: ModelServer, member_speed: float = 2000) -> TeamSpec:
    members = [
        AgentSpec(
            id="writer", name="Writer", model=model(server, tokens_per_second=member_speed, reply_words=500)
        ),
        AgentSpec(id="editor", name="Editor", model=model(server)),
    ]
    return TeamSpec(id="desk", name="Desk", model=model(server), members=members)


async def collect(host: RunHost, spec: TeamSpec, request: RunRequest, cancel_when=None) -> list[BaseRunEvent]:
    events: list[BaseRunEvent] = []
    async for batch in host.stream(spec, request, members=LocalMembers(spec, host)):
        events.extend(batch)
        if cancel_when is not None and cancel_when(events):
            host.cancel(request.run_id)
            cancel_when = None
    return events


def test_team_run_in_process(server: ModelServer) -> None:
    request = RunRequest(input="Write")
    events = asyncio.run(collect(RunHost(), team_spec(server), request))
    assert names(events)[:3] == ["TeamRunStarted", "TeamToolCallStarted", "RunStarted"]
    assert_one_terminal_last(events, request.run_id)
    assert events[-1].event == TeamRunEvent.run_completed


def test_cancel_in_process_reaches_the_member_first(server: ModelServer) -> None:
    request = RunRequest(input="Write")
    events = asyncio.run(
        collect(
            RunHost(),
            team_spec(server, member_speed=100),
            request,
            cancel_when=lambda evs: sum(e.event == RunEvent.run_content for e in evs) >= 3,
        )
    )
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]
    assert_one_terminal_last(events, request.run_id)


def test_cancel_twice_is_idempotent_and_unknown_is_false(server: ModelServer) -> None:
    async def main() -> tuple[bool, bool, bool, list[BaseRunEvent]]:
        host = RunHost()
        spec = AgentSpec(id="w", name="W", model=model(server, first_token_delay=30))
        request = RunRequest(input="Hi")
        channel, task = host.start(spec, request)
        await asyncio.sleep(0.2)
        first, second = host.cancel(request.run_id), host.cancel(request.run_id)
        await task
        events = [event async for batch in channel.batches() for event in batch]
        return first, second, host.cancel("unknown"), events

    first, second, unknown, events = asyncio.run(main())
    assert (first, second, unknown) == (True, True, False)
    assert names(events) == ["RunStarted", "RunCancelled"]


def test_core_does_not_import_ray() -> None:
    """The run loops, models, tools, events and storage know nothing of Ray (the layering rule)."""
    code = (
        "import sys, kern.engine.host, kern.engine.local, kern.models.openai, kern.tools, kern.run.events, "
        "kern.db, kern.model_server; print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_channel_coalesces_a_fast_stream_but_never_holds_the_terminal_event() -> None:
    from kern.engine.channel import EventChannel
    from kern.run.agent import RunContentEvent, RunStartedEvent

    async def main() -> tuple[list[int], float]:
        channel = EventChannel()
        loop = asyncio.get_running_loop()
        closed: list[float] = []

        async def produce() -> None:
            channel.emit(RunStartedEvent(run_id="r", agent_id="a", agent_name="A"))
            await asyncio.sleep(0)
            for i in range(200):
                channel.emit(RunContentEvent(run_id="r", agent_id="a", agent_name="A", content=str(i)))
                await asyncio.sleep(0.0005)
            channel.close()
            closed.append(loop.time())

        producer = asyncio.create_task(produce())
        sizes = [len(batch) async for batch in channel.batches(min_interval=0.5)]
        ended = loop.time()
        await producer
        return sizes, ended - closed[0]

    sizes, after_close = asyncio.run(main())
    assert sizes[0] == 1, "the first event is not held back"
    assert sum(sizes) == 201 and len(sizes) <= 3, sizes
    assert after_close < 0.05, "closing the channel releases the last batch at once"
