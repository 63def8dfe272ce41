"""An actor's life on real Ray: new options replace it (a busy one once its run has ended), `kern stop`
cancels its runs and ends it, an idle one exits, and in each case the next run starts it again."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
import ray

from actors.runtime import NAMESPACE, supervisor
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.placement import Placement, PlacementError
from kern.replicas import Replicas, ReplicaStatus, status
from kern.run.base import BaseRunEvent
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def handle(name: str) -> ray.actor.ActorHandle | None:
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


def environment_of(name: str, variable: str) -> str | None:
    """A variable of the actor's process environment (its `runtime_env`)."""
    actor = handle(name)
    assert actor is not None, f"{name} is not running"
    return ray.get(actor.__ray_call__.remote(lambda _: os.environ.get(variable)), timeout=30)


def polled(name: str) -> ReplicaStatus | None:
    """The component's first replica once the supervisor has polled it."""
    for pool in status():
        for replica in pool.replicas:
            if replica.name == name and replica.pid is not None:
                return replica
    return None


async def wait_for(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not met in {within:.0f} s; pools: {status()}"
        await asyncio.sleep(0.2)


async def collect(agent: Agent, prompt: str = "Write") -> list[BaseRunEvent]:
    return [event async for event in agent.arun(prompt, stream=True)]


def marked(server: ModelServer, mark: str, **speed: float) -> Agent:
    """The agent `lifecycle-writer`, its actor's environment marked with `mark`."""
    return Agent(
        id="lifecycle-writer",
        model=model(server, **speed),  # type: ignore[arg-type]
        ray_options={"runtime_env": {"env_vars": {"KERN_TEST_MARK": mark}}},
    )


async def test_new_options_replace_the_actor_once_its_run_has_ended(server: ModelServer) -> None:
    name = "kern:agent:lifecycle-writer"
    first = marked(server, "a")
    assert names(await collect(first))[-1] == "RunCompleted"
    assert environment_of(name, "KERN_TEST_MARK") == "a"

    # A slow run on the old options is under way when a caller asks for new ones.
    slow = marked(server, "a", tokens_per_second=20, reply_words=60)
    old_run = asyncio.create_task(collect(slow))
    await wait_for(lambda: any(r.runs for p in status() if p.name == name for r in p.replicas))
    events = await collect(marked(server, "b"))
    assert names(events)[-1] == "RunCompleted", names(events)

    old_events = await old_run
    assert names(old_events)[-1] == "RunCompleted", "the run on the replaced actor ends in full"
    assert_one_terminal_last(old_events, old_events[0].run_id)
    await wait_for(lambda: handle(name) is not None and environment_of(name, "KERN_TEST_MARK") == "b")
    assert names(await collect(marked(server, "b")))[-1] == "RunCompleted"


async def test_stop_cancels_the_runs_and_the_next_run_starts_a_new_actor(server: ModelServer) -> None:
    agent = Agent(id="stopped-writer", model=model(server, tokens_per_second=20, reply_words=200))
    events: list[BaseRunEvent] = []

    async def read() -> None:
        async for event in agent.arun("Write", stream=True):
            events.append(event)

    reading = asyncio.create_task(read())
    await wait_for(lambda: getattr(polled("kern:agent:stopped-writer"), "runs", 0) == 1)
    first = polled("kern:agent:stopped-writer")
    assert first is not None and first.runs == 1 and first.idle_seconds == 0, first
    assert first.memory_mib is not None and first.memory_mib > 50, first

    stopped, unknown = await supervisor().stop.remote(["stopped-writer", "agent:no-such-agent"])
    assert stopped == ["kern:agent:stopped-writer"] and unknown == ["agent:no-such-agent"]
    await asyncio.wait_for(reading, 10)
    assert names(events)[-1] == "RunCancelled", names(events)
    await wait_for(lambda: handle("kern:agent:stopped-writer") is None)

    fast = Agent(id="stopped-writer", model=model(server))
    assert names(await collect(fast))[-1] == "RunCompleted"
    await wait_for(lambda: polled("kern:agent:stopped-writer") is not None)
    assert polled("kern:agent:stopped-writer").pid != first.pid  # type: ignore[union-attr]


async def test_an_idle_actor_exits_and_the_next_run_starts_it_again(server: ModelServer) -> None:
    agent = Agent(id="napping-writer", model=model(server), replicas=Replicas(exit_idle_seconds=1))
    assert names(await collect(agent))[-1] == "RunCompleted"

    await wait_for(lambda: handle("kern:agent:napping-writer") is None, within=15)
    assert names(await collect(agent))[-1] == "RunCompleted"


async def test_a_placement_no_node_can_meet_fails_at_once(server: ModelServer) -> None:
    agent = Agent(id="nowhere-writer", model=model(server), placement=Placement(resources={"gpu_node": 1}))
    started = time.monotonic()
    with pytest.raises(
        PlacementError, match=r"No node of the cluster can run kern:agent:nowhere-writer.*gpu_node"
    ):
        await collect(agent)
    assert time.monotonic() - started < 10
    assert handle("kern:agent:nowhere-writer") is None


SHUT_DOWN_AND_WAIT = """
import sys, time
import ray
from kern.agent import Agent
from kern.models.openai import OpenAIResponses

agent = Agent(name="Shutdown Probe", model=OpenAIResponses(id="m", api_key="k", base_url=sys.argv[1]))
assert list(agent.run("Say hello", stream=True))  # (a stream: its link stays open a while)
ray.shutdown()
time.sleep(float(sys.argv[2]))  # (a few link heartbeats)
print("initialized after shutdown:", ray.is_initialized())
"""


def test_a_process_that_shut_ray_down_is_not_connected_again_behind_its_back(server: ModelServer) -> None:
    """Its links' heartbeats stop: a Ray call on their thread would make Ray connect again (Ray's
    auto-init), to whatever cluster the machine's records name, dead or someone else's."""
    import subprocess
    import sys

    from actors.link import HEARTBEAT_SECONDS

    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    done = subprocess.run(
        [sys.executable, "-c", SHUT_DOWN_AND_WAIT, server.base_url, str(2.5 * HEARTBEAT_SECONDS)],
        capture_output=True, text=True, timeout=90, env=env,
    )  # fmt: skip
    assert "initialized after shutdown: False" in done.stdout, done.stdout + done.stderr[-3000:]
