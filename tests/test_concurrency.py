"""Many concurrent runs on real actors: one link per consumer carries them all, and each run keeps its
own order, its one terminal event, and its cancel."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
import ray

from actors.link import LINK_EXPIRY_SECONDS
from actors.runtime import supervisor
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.run.team import TeamRunEvent
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")

RUNS = 40
CANCELLED = 10


def load_team(server: ModelServer) -> Team:
    writer = Agent(
        name="Load Writer", model=model(server, tokens_per_second=40, reply_words=40), description="Writes"
    )
    return Team(name="Load Team", members=[writer], model=model(server, tokens_per_second=400))


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


async def test_concurrent_team_runs_share_one_link_and_each_ends_once(server: ModelServer) -> None:
    team = load_team(server)
    all_started = asyncio.Event()
    started: set[str] = set()
    streams: dict[int, list[BaseRunEvent]] = {}
    cancelled: dict[int, bool] = {}

    async def consume(index: int) -> None:
        events = streams[index] = []
        async for event in await team.arun(f"Story {index}", stream=True):
            events.append(event)
            if event.event == TeamRunEvent.run_started:
                started.add(event.run_id)
                if len(started) == RUNS:
                    all_started.set()
            if index < CANCELLED and event.event == RunEvent.run_content and index not in cancelled:
                await all_started.wait()
                cancelled[index] = await team.acancel_run(events[0].run_id)

    consumers = [asyncio.create_task(consume(i)) for i in range(RUNS)]
    await asyncio.wait_for(all_started.wait(), 60)
    team_links = await team.actor().links.remote()
    ours = [runs for link_id, runs in team_links.items() if link_id.startswith(f"{os.getpid()}-")]
    assert len(ours) == 1 and len(ours[0]) >= RUNS - CANCELLED, (
        f"all runs of this event loop travel on one link to the team's actor: {team_links}"
    )
    await asyncio.wait_for(asyncio.gather(*consumers), 120)

    assert cancelled == dict.fromkeys(range(CANCELLED), True)
    for index, events in streams.items():
        team_run_id = events[0].run_id
        assert_one_terminal_last(events, team_run_id)
        if index < CANCELLED:
            assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(events)
        else:
            assert names(events)[-4:] == [
                "TeamToolCallCompleted", "TeamRunContent", "TeamRunContentCompleted", "TeamRunCompleted"
            ]  # fmt: skip
            member_runs = {e.run_id for e in events if e.event == RunEvent.run_completed}
            assert len(member_runs) == 1
    member_ids = {e.run_id for events in streams.values() for e in events if e.event == RunEvent.run_started}
    assert len(member_ids) == RUNS, "every team run had its own member run"

    team_runs = {events[0].run_id for events in streams.values()}
    wait_until(lambda: not team_runs & set(ray.get(supervisor().live_runs.remote())))
    wait_until(lambda: not ray.get(team.actor().running.remote()))
    member_actor = team.members[0].actor()
    wait_until(lambda: not ray.get(member_actor.running.remote()))
    member_links = ray.get(member_actor.links.remote())
    assert len(member_links) == 1, f"the team's actor reaches its member over one link: {member_links}"


def test_threads_streaming_at_once_each_get_their_own_run(server: ModelServer) -> None:
    """Synchronous callers in several threads share the process's link; one walks away mid-stream."""
    team = load_team(server)
    results: dict[int, list[BaseRunEvent]] = {}

    def consume(index: int) -> None:
        events = results[index] = []
        for event in team.run(f"Story {index}", stream=True):
            events.append(event)
            if index == 0 and event.event == RunEvent.run_content:
                break  # walks away: its run is cancelled, the others go on

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    walked_away = results.pop(0)
    for events in results.values():
        assert_one_terminal_last(events, events[0].run_id)
        assert events[-1].event == TeamRunEvent.run_completed
    assert len({events[0].run_id for events in results.values()}) == 5
    wait_until(lambda: walked_away[0].run_id not in ray.get(team.actor().running.remote()))


CONSUMER_THAT_DIES = """
import os, sys, ray
from kern.agent import Agent
from kern.models.openai import OpenAIResponses
from kern.run.agent import RunEvent
ray.init(address=sys.argv[1], namespace="kern")
headers = {"x-kern-tokens-per-second": "20", "x-kern-reply-words": "2000"}
model = OpenAIResponses(id="gpt-test", base_url=sys.argv[2], default_headers=headers)
agent = Agent(name="Orphan Writer", model=model)
for event in agent.run("Write", stream=True):
    if event.event == RunEvent.run_content:
        print(event.run_id, flush=True)
        os._exit(0)  # the process dies mid-run: no walk-away cancel, no goodbye to the actor
"""


def test_a_consumer_process_that_dies_loses_its_link_and_its_runs(server: ModelServer) -> None:
    """Ray keeps a streaming call going after its caller died; kern's link heartbeats end it."""
    address = ray.get_runtime_context().gcs_address
    child = subprocess.run(
        [sys.executable, "-c", CONSUMER_THAT_DIES, address, server.base_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    run_id = child.stdout.split()[-1]
    actor = ray.get_actor("kern:agent:orphan-writer", namespace="kern")
    assert run_id in ray.get(actor.running.remote()), "the run outlives its caller at first"
    wait_until(lambda: run_id not in ray.get(actor.running.remote()), timeout=LINK_EXPIRY_SECONDS + 15)
    assert not ray.get(actor.links.remote())
    record = next(r for r in server.requests if r.status != "in_progress" and "Write" in str(r.body))
    assert record.status == "disconnected", "the orphan's model stream was closed"
