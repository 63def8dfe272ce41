"""The run loops in one process, without Ray: the same engine the actors host."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from kern.engine.local import LocalLink
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


async def collect(
    link: LocalLink, spec: TeamSpec, request: RunRequest, cancel_when=None
) -> list[BaseRunEvent]:
    events: list[BaseRunEvent] = []
    async for event in link.events(spec, request):
        events.append(event)
        if cancel_when is not None and cancel_when(events):
            link.host.cancel(request.run_id)
            cancel_when = None
    return events


def test_team_run_in_process(server: ModelServer) -> None:
    request = RunRequest(input="Write")
    events = asyncio.run(collect(LocalLink(), team_spec(server), request))
    assert names(events)[:3] == ["TeamRunStarted", "TeamToolCallStarted", "RunStarted"]
    assert_one_terminal_last(events, request.run_id)
    assert events[-1].event == TeamRunEvent.run_completed


def test_cancel_in_process_reaches_the_member_first(server: ModelServer) -> None:
    request = RunRequest(input="Write")
    events = asyncio.run(
        collect(
            LocalLink(),
            team_spec(server, member_speed=100),
            request,
            cancel_when=lambda evs: sum(e.event == RunEvent.run_content for e in evs) >= 3,
        )
    )
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]
    assert_one_terminal_last(events, request.run_id)


def test_cancel_twice_is_idempotent_and_unknown_is_false(server: ModelServer) -> None:
    async def main() -> tuple[bool, bool, bool, list[BaseRunEvent]]:
        link = LocalLink()
        spec = AgentSpec(id="w", name="W", model=model(server, first_token_delay=30))
        request = RunRequest(input="Hi")
        events: list[BaseRunEvent] = []

        async def consume() -> None:
            events.extend([event async for event in link.events(spec, request)])

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        first, second = link.host.cancel(request.run_id), link.host.cancel(request.run_id)
        await consumer
        return first, second, link.host.cancel("unknown"), events

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


def test_outbox_coalesces_many_runs_but_never_holds_first_or_terminal_frames() -> None:
    """One batch per interval carries every run's frames; a start or terminal frame goes at once."""
    from kern.engine.frames import content_frame, event_frame
    from kern.engine.outbox import Outbox
    from kern.run.agent import RunCompletedEvent, RunStartedEvent

    async def main() -> tuple[list[tuple[float, list[str], int]], float]:
        outbox = Outbox(interval=0.3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        taken: list[tuple[float, list[str], int]] = []
        done = asyncio.Event()

        async def take() -> None:
            async for batch in outbox.batches():
                taken.append((loop.time() - t0, sorted(batch), sum(map(len, batch.values()))))
                if any(frame[1] == "RunCompleted" for frames in batch.values() for frame in frames):
                    done.set()

        reader = asyncio.create_task(take())
        start = RunStartedEvent(run_id="r1", agent_id="a", agent_name="A")
        outbox.put("r1", [event_frame(start)], urgent=True)
        while loop.time() - t0 < 1.0:  # two runs streaming fast, for three intervals and more
            outbox.put("r1", [content_frame("r1", "RunContent", "a")])
            outbox.put("r2", [content_frame("r2", "RunContent", "b")])
            await asyncio.sleep(0.002)
        end = RunCompletedEvent(run_id="r1", agent_id="a", agent_name="A")
        outbox.put("r1", [event_frame(end)], urgent=True)
        sent_end = loop.time() - t0
        await asyncio.wait_for(done.wait(), 5)
        reader.cancel()
        return taken, sent_end

    taken, sent_end = asyncio.run(main())
    assert taken[0][0] < 0.05, "the first frame is not held back"
    assert 3 <= len(taken) <= 6, f"hundreds of frames in one batch per interval, not one each: {taken}"
    assert all(runs == ["r1", "r2"] for _, runs, _ in taken[1:]), "both runs' frames share each batch"
    assert taken[-1][0] - sent_end < 0.05, "the terminal frame is not held back"
