"""A model that stalls after its headers ends the run as a stall, after the idle timeout the user sets.

In-process (`LocalLink`), with the real model server and the real `openai` SDK.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kern.engine.local import LocalLink
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest
from tests.support import model, names

APIS = ["responses", "chat"]


async def run(spec: AgentSpec, cancel_after_words: int | None = None) -> tuple[list[BaseRunEvent], float]:
    """The run's events and its duration; bounded, so a run that hangs fails the test instead."""
    link = LocalLink()
    request = RunRequest(input="Tell me a story")
    events: list[BaseRunEvent] = []
    start = time.monotonic()

    async def consume() -> None:
        async for event in link.events(spec, request):
            events.append(event)
            if (
                cancel_after_words
                and sum(e.event == RunEvent.run_content for e in events) == cancel_after_words
            ):
                link.host.cancel(request.run_id)

    await asyncio.wait_for(consume(), 15)
    return events, time.monotonic() - start


def agent(server: ModelServer, api: str, **fields: Any) -> AgentSpec:
    return AgentSpec(id="teller", name="Teller", model=model(server, api, **fields))


def stall_message(server: ModelServer, seconds: int) -> str:
    return (
        f"Model 'gpt-test' at {server.base_url} stalled: no token for {seconds} s "
        "(the model's stream_idle_timeout)"
    )


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("setting", ["stream_idle_timeout", "timeout"])
def test_stall_mid_stream_is_a_stall_error_after_the_idle_timeout(
    server: ModelServer, api: str, setting: str
) -> None:
    """`stream_idle_timeout` bounds the silence; unset, the model's `timeout` does, labelled the same."""
    server.add_fault("stall", after_words=3)
    events, elapsed = asyncio.run(run(agent(server, api, **{setting: 1})))
    assert names(events) == ["RunStarted", "RunContent", "RunError"]
    error = events[-1]
    assert (error.error_type, error.content) == ("ModelStalled", stall_message(server, 1))
    assert error.partial_content == "Once upon a"
    assert 0.95 <= elapsed < 5
    record = server.wait_for_disconnect(timeout=2)
    assert (record.fault, record.words_sent) == ("stall", 3), "the stalled stream was not closed"


@pytest.mark.parametrize("api", APIS)
def test_stall_before_the_first_token_is_a_stall_error(server: ModelServer, api: str) -> None:
    events, elapsed = asyncio.run(run(agent(server, api, first_token_delay=30, stream_idle_timeout=1)))
    assert names(events) == ["RunStarted", "RunError"]
    assert (events[-1].error_type, events[-1].content) == ("ModelStalled", stall_message(server, 1))
    assert 0.95 <= elapsed < 5
    server.wait_for_disconnect(timeout=2)


@pytest.mark.parametrize("api", APIS)
def test_slow_steady_stream_longer_than_the_idle_timeout_completes(server: ModelServer, api: str) -> None:
    spec = agent(server, api, tokens_per_second=5, reply_words=10, stream_idle_timeout=1)
    events, elapsed = asyncio.run(run(spec))
    assert events[-1].event == RunEvent.run_completed
    assert len(events[-1].content.split()) == 10
    assert elapsed > 1.5, "the stream must last longer than the idle timeout"


def test_cancel_during_a_stall_closes_the_stream_at_once(server: ModelServer) -> None:
    server.add_fault("stall", after_words=3)
    events, elapsed = asyncio.run(
        run(agent(server, "responses", stream_idle_timeout=30), cancel_after_words=3)
    )
    assert names(events)[-1] == "RunCancelled"
    assert elapsed < 3
    record = server.wait_for_disconnect(timeout=1)
    assert record.fault == "stall"
