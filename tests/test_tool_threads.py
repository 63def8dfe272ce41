"""Sync tools left hanging by cancelled runs cannot starve later tools: a bounded, visible thread pool.

In-process (`LocalLink`), with the real model server and the real `openai` SDK. The hung tools wait on an
event that each test sets when it ends, so no thread outlives its test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from kern.engine.local import LocalLink
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest
from kern.tools import Function
from kern.tools.threads import status, tool_threads
from tests.support import model

HUNG = "hang_in_cancelled_run"


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Released when the test ends: the hung tools return and their threads are free again."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    """A tool thread pool sized from this test's environment (and the default one again afterwards)."""
    tool_threads.cache_clear()
    yield
    tool_threads.cache_clear()


def hanging(gate: threading.Event, started: list[str]) -> Function:
    def hang_in_cancelled_run(city: str) -> str:
        """Blocks until the test ends, like a tool stuck on a dead socket."""
        started.append(city)
        gate.wait()
        return "released"

    return Function.from_callable(hang_in_cancelled_run)


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def run(link: LocalLink, spec: AgentSpec, request: RunRequest) -> list[BaseRunEvent]:
    return [event async for event in link.events(spec, request)]


async def hang_and_cancel(link: LocalLink, server: ModelServer, gate: threading.Event, count: int) -> None:
    """`count` runs each start the hanging sync tool and are cancelled while it hangs."""
    started: list[str] = []
    spec = AgentSpec(id="stuck", name="Stuck", model=model(server), tools=[hanging(gate, started)])
    requests = [RunRequest(input=f"Use {HUNG}") for _ in range(count)]
    runs = [asyncio.create_task(run(link, spec, request)) for request in requests]
    deadline = time.monotonic() + 30
    while len(started) < count:
        assert time.monotonic() < deadline, f"only {len(started)} of {count} hanging tools started"
        await asyncio.sleep(0.02)
    for request in requests:
        link.host.cancel(request.run_id)
    for events in await asyncio.wait_for(asyncio.gather(*runs), 10):
        assert events[-1].event == RunEvent.run_cancelled


def adder(server: ModelServer) -> AgentSpec:
    return AgentSpec(id="adder", name="Adder", model=model(server), tools=[Function.from_callable(add)])


def tool_events(events: list[BaseRunEvent]) -> list[BaseRunEvent]:
    finished = (RunEvent.tool_call_completed, RunEvent.tool_call_error)
    return [event for event in events if event.event in finished]


def test_64_hung_cancelled_sync_tools_do_not_starve_the_next_one(
    server: ModelServer, gate: threading.Event, fresh_pool: None
) -> None:
    async def main() -> tuple[list[BaseRunEvent], float]:
        link = LocalLink()
        await hang_and_cancel(link, server, gate, 64)
        start = time.monotonic()
        events = await asyncio.wait_for(run(link, adder(server), RunRequest(input="Use add")), 20)
        return events, time.monotonic() - start

    events, elapsed = asyncio.run(main())
    [result] = tool_events(events)
    assert (result.event, result.content) == (RunEvent.tool_call_completed, "2")
    assert events[-1].event == RunEvent.run_completed
    assert elapsed < 5, f"a trivial sync tool took {elapsed:.1f} s behind 64 hung ones"
    seen = status()
    assert (seen.abandoned, seen.abandoned_tools) == (64, {HUNG: 64})


def test_full_pool_is_a_clear_tool_error_and_the_run_goes_on(
    server: ModelServer, gate: threading.Event, fresh_pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERN_TOOL_THREADS", "4")

    async def main() -> list[BaseRunEvent]:
        link = LocalLink()
        await hang_and_cancel(link, server, gate, 4)
        return await asyncio.wait_for(run(link, adder(server), RunRequest(input="Use add")), 20)

    events = asyncio.run(main())
    [refused] = tool_events(events)
    assert refused.event == RunEvent.tool_call_error
    assert refused.content == (
        "ToolThreadsFull: No thread free for sync tool 'add': all 4 tool threads of this process are busy, "
        f"4 of them stuck in tools of cancelled runs ('{HUNG}' x4). Raise KERN_TOOL_THREADS (now 4), make "
        "those tools return, or make the tools async (async tools are cancelled with their run)."
    )
    assert events[-1].event == RunEvent.run_completed
    assert status().model_dump() == {"limit": 4, "busy": 4, "abandoned": 4, "abandoned_tools": {HUNG: 4}}

    gate.set()  # the hung tools return: their threads serve the next calls
    deadline = time.monotonic() + 5
    while status().busy:
        assert time.monotonic() < deadline, "released tools did not free their threads"
        time.sleep(0.01)
    events = asyncio.run(run(LocalLink(), adder(server), RunRequest(input="Use add")))
    assert [(e.event, e.content) for e in tool_events(events)] == [(RunEvent.tool_call_completed, "2")]


@pytest.mark.parametrize("value", ["0", "lots", "5000"])
def test_invalid_limit_is_named_in_the_tool_error(
    server: ModelServer, fresh_pool: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("KERN_TOOL_THREADS", value)
    events = asyncio.run(run(LocalLink(), adder(server), RunRequest(input="Use add")))
    [refused] = tool_events(events)
    assert refused.content == (
        f"ValueError: KERN_TOOL_THREADS must be a whole number from 1 to 4096, got {value!r}"
    )
    with pytest.raises(ValueError, match="KERN_TOOL_THREADS"):
        status()
