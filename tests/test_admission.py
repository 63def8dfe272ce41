"""Admission on real actors: runs past a component's `Admission` wait their turn (no event until then) or
are refused with `TooManyRunsError`; a queued run can be cancelled or run out of time; a per-node limit
counts the runs of every component on the node; member runs of a team run already let in are not held."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kern.admission import Admission, default_admission
from kern.agent import Agent
from kern.exceptions import TooManyRunsError
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent, RunStatus
from kern.specs import new_id
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def gated_agent(server: ModelServer, name: str, admission: Admission, **speed: float) -> Agent:
    """An agent whose answer takes about a second (20 words at 20 tokens/s) unless `speed` says."""
    slow = model(server, **{"tokens_per_second": 20, "reply_words": 20, **speed})  # type: ignore[arg-type]
    return Agent(name=name, model=slow, admission=admission)


class Streamed:
    """A streamed run read on a thread: its events."""

    def __init__(self, agent: Agent, run_id: str | None = None) -> None:
        self.run_id = run_id or new_id()
        self.events: list[BaseRunEvent] = []
        self.error: BaseException | None = None
        self.started = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(agent,))
        self._thread.start()

    def _read(self, agent: Agent) -> None:
        try:
            for event in agent.run("Write", stream=True, run_id=self.run_id):
                self.events.append(event)
                self.started.set()
        except BaseException as exc:
            self.error = exc
        finally:
            self.started.set()

    def join(self) -> Streamed:
        self._thread.join(60)
        assert not self._thread.is_alive(), f"run {self.run_id} never ended"
        return self


def test_a_flood_past_max_runs_and_max_queued_is_refused_at_once(server: ModelServer) -> None:
    agent = gated_agent(server, "Gated Clerk", Admission(max_runs=2, max_queued=2))
    holding = [Streamed(agent) for _ in range(2)]
    for run in holding:
        assert run.started.wait(30) and run.events[0].event == RunEvent.run_started
    queued = [Streamed(agent) for _ in range(2)]
    time.sleep(0.5)  # (their starts reach the replica, which queues them)
    assert all(not run.events for run in queued), "a queued run shows nothing before its turn"

    refused_at = time.monotonic()
    with pytest.raises(TooManyRunsError) as refused:
        agent.run("Write")
    assert time.monotonic() - refused_at < 5, "refused at once, not after a wait"
    assert "Gated Clerk has no room for another run" in str(refused.value)
    assert "2 runs in flight and 2 waiting on this replica (max_runs=2, max_queued=2)" in str(refused.value)
    assert refused.value.retry_after >= 1
    with pytest.raises(TooManyRunsError):
        next(iter(agent.run("Write", stream=True)))
    with pytest.raises(TooManyRunsError):
        asyncio.run(agent.arun("Write", background=False))

    for run in holding + queued:
        run.join()
        assert run.error is None and names(run.events)[-1] == "RunCompleted"
        assert_one_terminal_last(run.events, run.run_id)
    first_done = min(run.events[-1].created_at for run in holding)  # (the actor's clock, as below)
    for run in queued:
        assert run.events[0].created_at >= first_done, "a queued run starts once a run in flight has ended"
    assert agent.run("Write").status is RunStatus.completed, "room again once the flood has passed"


def test_a_queued_run_can_be_cancelled_and_gives_up_its_place(server: ModelServer) -> None:
    agent = gated_agent(server, "Queue Leaver", Admission(max_runs=1, max_queued=1), reply_words=400)
    holding = Streamed(agent)
    assert holding.started.wait(30)
    queued = Streamed(agent)
    time.sleep(0.5)
    assert not queued.events
    requests_before = len(server.requests)
    assert agent.cancel_run(queued.run_id) is True
    queued.join()
    assert names(queued.events) == ["RunStarted", "RunCancelled"], "no model call for a run that never ran"
    assert len(server.requests) == requests_before
    replacement = Streamed(agent)  # (its place in the queue is free again)
    time.sleep(0.5)
    assert replacement.error is None
    agent.cancel_run(holding.run_id)
    assert names(holding.join().events)[-1] == "RunCancelled"
    assert replacement.started.wait(30) and names(replacement.events)[0] == "RunStarted", "its turn came"
    assert agent.cancel_run(replacement.run_id) is True
    assert names(replacement.join().events)[-1] == "RunCancelled"


def test_a_run_that_waits_past_queue_seconds_ends_with_a_queue_timeout(server: ModelServer) -> None:
    agent = gated_agent(
        server, "Patient Clerk", Admission(max_runs=1, max_queued=1, queue_seconds=1), reply_words=100
    )
    holding = Streamed(agent)
    assert holding.started.wait(30)
    output = agent.run("Write")
    assert output.status is RunStatus.error
    assert output.error == (
        "The run waited 1 s for a turn on a replica with 1 runs in flight (max_runs=1) and never started"
    )
    events = list(agent.run("Write", stream=True))
    assert names(events) == ["RunStarted", "RunError"] and events[-1].error_type == "QueueTimeout"
    agent.cancel_run(holding.run_id)
    holding.join()


def test_a_node_limit_counts_every_component_on_the_node(server: ModelServer) -> None:
    per_node = Admission(max_runs_per_node=1, max_queued=0)
    first = gated_agent(server, "Node Clerk One", per_node, reply_words=400)
    second = gated_agent(server, "Node Clerk Two", per_node)
    holding = Streamed(first)
    assert holding.started.wait(30)
    with pytest.raises(TooManyRunsError) as refused:
        second.run("Write")
    assert "1 runs in flight and 0 waiting on its node (max_runs_per_node=1, max_queued=0)" in str(
        refused.value
    )
    first.cancel_run(holding.run_id)
    holding.join()
    assert second.run("Write").status is RunStatus.completed, "the node's slot is free once the run ended"


def test_member_runs_of_admitted_team_runs_are_not_held(server: ModelServer) -> None:
    """Two team runs at once delegate to one member agent that lets in one run of its own at a time."""
    member = gated_agent(server, "Narrow Member", Admission(max_runs=1, max_queued=0))
    teams = [Team(name=f"Wide Team {n}", members=[member], model=model(server)) for n in range(2)]
    outputs: list[object] = [None, None]

    def run(number: int) -> None:
        outputs[number] = teams[number].run("Write")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [getattr(output, "status", None) for output in outputs] == [RunStatus.completed] * 2
    assert all(getattr(output, "member_responses", None) for output in outputs), "each delegated"


def test_limits_come_from_the_environment_and_bad_ones_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERN_MAX_RUNS_PER_REPLICA", "50")
    monkeypatch.setenv("KERN_MAX_RUNS_PER_NODE", "400")
    assert default_admission() == Admission(max_runs=50, max_runs_per_node=400)
    monkeypatch.setenv("KERN_QUEUE_SECONDS", "soon")
    with pytest.raises(
        ValueError, match=r"Invalid admission settings in the environment \(.*KERN_QUEUE_SECONDS=soon"
    ):
        default_admission()
