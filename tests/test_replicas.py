"""Replicas on real actors: runs spread over them, pools grow under a burst and shrink when idle without
losing a run, a cancel reaches the run on whichever replica has it, a killed replica is replaced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import ray
from ray.exceptions import RayActorError

from actors import routing
from actors.runtime import NAMESPACE, supervisor
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.replicas import PoolStatus, Replicas, status
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent, RunStatus
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def pool(name: str) -> PoolStatus:
    """The supervisor's view of the component's pool (empty until it has heard of it, or while the
    supervisor restarts)."""
    try:
        for found in status():
            if found.name == name:
                return found
    except RayActorError:
        pass
    return PoolStatus(name=name, kind="?", bounds=Replicas(), limit=0, replicas=[], problem=None)


def runs_by_replica(name: str) -> dict[str, int]:
    return {r.name: r.runs for r in pool(name).replicas if r.state != "starting"}


async def wait_for(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not met in {within:.0f} s; pools: {status()}"
        await asyncio.sleep(0.2)


def ready(name: str, count: int) -> Callable[[], bool]:
    return lambda: [r.state for r in pool(name).replicas] == ["ready"] * count


async def serving(component: Agent | Team, count: int) -> None:
    """The pool has `count` ready replicas, and this process's router knows them all (a router refreshes
    its table at most once a second, in the background: the test does not wait for that)."""
    name = routing.router(component.spec).config.name
    await wait_for(ready(name, count))
    router = routing.router(component.spec)

    def known() -> bool:
        router.announce()
        return len(router.known()) == count

    await wait_for(known)


async def collect(stream: object, into: list[BaseRunEvent]) -> list[BaseRunEvent]:
    async for event in stream:  # type: ignore[attr-defined]
        into.append(event)
    return into


async def test_runs_spread_over_the_replicas(server: ModelServer) -> None:
    agent = Agent(
        name="Spread Writer",
        model=model(server, tokens_per_second=20, reply_words=80),
        replicas=Replicas(min=3, max=3),
    )
    await asyncio.to_thread(agent.actor)
    await serving(agent, 3)
    streams = [collect(await agent.arun(f"Story {i}", stream=True), []) for i in range(9)]
    running = asyncio.gather(*streams)
    placed: dict[str, int] = {}

    def all_placed() -> bool:
        placed.clear()
        placed.update(runs_by_replica("kern:agent:spread-writer"))
        return sum(placed.values()) == 9

    await wait_for(all_placed)
    assert sorted(placed.values()) == [3, 3, 3], placed
    for events in await running:
        assert events[-1].event == RunEvent.run_completed, names(events)


async def test_a_pool_grows_under_a_burst_and_shrinks_when_idle_without_losing_a_run(
    server: ModelServer,
) -> None:
    name = "kern:agent:burst-writer"
    bounds = Replicas(min=1, max=3, target_runs=2, idle_seconds=1)
    agent = Agent(
        name="Burst Writer", model=model(server, tokens_per_second=20, reply_words=100), replicas=bounds
    )
    burst = [collect(await agent.arun(f"Story {i}", stream=True), []) for i in range(6)]
    bursting = asyncio.gather(*burst)
    # 6 runs at 2 per replica would take 3; the test's Ray has 2 CPUs, and a pool never outgrows them.
    await serving(agent, 2)
    assert pool(name).limit == 2
    # A long run now goes to a new replica (the least loaded), which the shrink then has to drain.
    long_run = asyncio.ensure_future(collect(await agent.arun("A long story", stream=True), []))
    await wait_for(lambda: any(r.runs == 1 and r.name != name for r in pool(name).replicas))
    for events in await bursting:
        assert events[-1].event == RunEvent.run_completed, names(events)
    await wait_for(lambda: any(r.state == "draining" and r.runs == 1 for r in pool(name).replicas))
    events = await long_run
    assert_one_terminal_last(events, events[0].run_id)
    assert events[-1].event == RunEvent.run_completed and len(events[-1].content.split()) == 100
    await wait_for(lambda: [r.state for r in pool(name).replicas] == ["ready"])
    assert pool(name).problem is None
    again = await agent.arun("After the shrink")
    assert again.status is RunStatus.completed


async def test_a_cancel_reaches_the_run_on_each_replica(server: ModelServer) -> None:
    two = Replicas(min=2, max=2)
    writer = Agent(
        name="Replica Writer", model=model(server, tokens_per_second=20, reply_words=200), replicas=two
    )
    team = Team(name="Replica Team", members=[writer], model=model(server), replicas=two)
    await asyncio.to_thread(team.actor)
    await serving(team, 2)
    await wait_for(ready("kern:agent:replica-writer", 2))  # the team's replicas route its runs
    events: list[list[BaseRunEvent]] = [[] for _ in range(4)]
    streams = [asyncio.ensure_future(collect(await team.arun("Story", stream=True), e)) for e in events]
    member_content = lambda e: any(x.event == RunEvent.run_content and x.parent_run_id for x in e)  # noqa: E731
    await wait_for(lambda: all(member_content(e) for e in events))
    for name in ("kern:team:replica-team", "kern:agent:replica-writer"):  # load is polled once a second
        await wait_for(lambda name=name: sorted(runs_by_replica(name).values()) == [2, 2])
    for stream_events in events:
        assert await team.acancel_run(stream_events[0].run_id) is True
    for stream_events in await asyncio.gather(*streams):
        team_run = stream_events[0].run_id
        assert_one_terminal_last(stream_events, team_run)
        assert names(stream_events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(stream_events)


async def test_a_killed_replica_ends_its_runs_with_an_error_and_is_replaced(server: ModelServer) -> None:
    name = "kern:agent:mortal-writer"
    agent = Agent(
        name="Mortal Writer",
        model=model(server, tokens_per_second=20, reply_words=100),
        replicas=Replicas(min=2, max=2),
    )
    await asyncio.to_thread(agent.actor)
    await serving(agent, 2)
    events: list[list[BaseRunEvent]] = [[] for _ in range(4)]
    streams = [asyncio.ensure_future(collect(await agent.arun("Story", stream=True), e)) for e in events]
    await wait_for(lambda: all(any(x.event == RunEvent.run_content for x in e) for e in events))
    await wait_for(lambda: runs_by_replica(name) == {name: 2, f"{name}#1": 2})
    ray.kill(ray.get_actor(f"{name}#1", namespace=NAMESPACE), no_restart=True)
    outcomes = sorted(stream[-1].event.value for stream in await asyncio.gather(*streams))
    assert outcomes == ["RunCompleted", "RunCompleted", "RunError", "RunError"]
    lost = [stream[-1] for stream in events if stream[-1].event == RunEvent.run_error]
    assert all(e.error_type == "ActorLost" and "mortal-writer" in e.content for e in lost)
    await wait_for(ready(name, 2))
    assert "died" in (pool(name).problem or "")
    after = await asyncio.gather(*(agent.arun(f"Again {i}") for i in range(4)))
    assert [output.status for output in after] == [RunStatus.completed] * 4


def test_replica_settings_are_checked_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"max replicas \(1\) is below min \(2\)"):
        Replicas(min=2, max=1)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Replicas(target_runs=0)
    monkeypatch.setenv("KERN_MAX_REPLICAS", "8")
    monkeypatch.setenv("KERN_TARGET_RUNS_PER_REPLICA", "50")
    assert Agent(name="Env Default").spec.replicas == Replicas(min=1, max=8, target_runs=50)
    assert Agent(name="Own", replicas=Replicas(max=2)).spec.replicas.max == 2
    monkeypatch.setenv("KERN_MIN_REPLICAS", "many")
    with pytest.raises(ValueError, match="KERN_MIN_REPLICAS=many"):
        Agent(name="Bad Env")


async def test_a_restarted_supervisor_adopts_the_replicas_that_are_up(server: ModelServer) -> None:
    name = "kern:agent:adopted-writer"
    agent = Agent(name="Adopted Writer", model=model(server), replicas=Replicas(min=2, max=2))
    await asyncio.to_thread(agent.actor)
    await serving(agent, 2)
    before = {r.name: r.node_id for r in pool(name).replicas}
    ray.kill(supervisor(), no_restart=False)  # Ray restarts it (max_restarts=-1), its tables empty
    await wait_for(lambda: pool(name).replicas == [])
    # Runs go on meanwhile, and the router's next table request tells the new supervisor the settings.
    outputs = await asyncio.gather(*(agent.arun(f"Again {i}") for i in range(4)))
    assert [output.status for output in outputs] == [RunStatus.completed] * 4, [o.error for o in outputs]
    await serving(agent, 2)
    assert {r.name: r.node_id for r in pool(name).replicas} == before, "the same two actors, none added"
