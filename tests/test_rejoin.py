"""Rejoining a run's stream (`afollow_run`): from any event, live until the end, the same events in the
same order as the caller that started it saw, and again after the run ended."""

from __future__ import annotations

import asyncio

import pytest

from kern.agent import Agent
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.specs import new_id
from tests.support import model

pytestmark = pytest.mark.usefixtures("ray_session")


def shape(events: list[BaseRunEvent]) -> list[tuple[str, str, object]]:
    return [(e.event, e.run_id, e.content) for e in events]


def test_a_rejoined_stream_has_the_same_events_from_where_it_joins(server: ModelServer) -> None:
    agent = Agent(name="Long Writer", model=model(server, tokens_per_second=100, reply_words=60))
    run_id = new_id()

    async def scenario() -> tuple[list[BaseRunEvent], list[BaseRunEvent], list[BaseRunEvent]]:
        original: list[BaseRunEvent] = []
        joined: asyncio.Task[list[BaseRunEvent]] | None = None
        async for event in agent.arun("Write", stream=True, run_id=run_id):
            original.append(event)
            if len(original) == 10:  # (mid-stream: another caller rejoins from the 5th event)
                joined = asyncio.create_task(_collect(agent.afollow_run(run_id, from_index=5)))
        assert joined is not None
        after = await _collect(agent.afollow_run(run_id))  # (the run has ended: replayed whole)
        return original, await joined, after

    original, joined, after = asyncio.run(scenario())
    assert original[-1].event == RunEvent.run_completed
    assert shape(joined) == shape(original[5:])
    assert shape(after) == shape(original)


def test_an_unknown_run_has_nothing_to_rejoin(server: ModelServer) -> None:
    agent = Agent(name="Long Writer", model=model(server))
    assert asyncio.run(_collect(agent.afollow_run(new_id()))) == []


async def _collect(events: object) -> list[BaseRunEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]
