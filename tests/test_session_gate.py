"""The busy-session policies in process (`actors.session_gate`, no Ray): queue order, interrupts, waits
that run out, and runs whose caller vanished before they started."""

from __future__ import annotations

import asyncio

import pytest

from actors import session_gate
from actors.session_gate import SessionGate


class Runs:
    """Live runs, as the supervisor would know them; a cancel ends the run."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.gate = SessionGate(lambda run_id: run_id in self.live, self.cancel, limit=1_000)
        self.cancelled: list[str] = []

    async def cancel(self, run_id: str) -> None:
        self.cancelled.append(run_id)
        self.end(run_id)

    def start(self, run_id: str, session: str = "s") -> None:
        self.gate.track(run_id, session)
        self.live.add(run_id)

    def end(self, run_id: str) -> None:
        self.live.discard(run_id)
        self.gate.untrack(run_id)


async def test_enqueued_runs_start_one_at_a_time_first_come_first_served() -> None:
    runs = Runs()
    runs.start("a")
    order: list[str] = []

    async def queued(run_id: str) -> None:
        assert await runs.gate.admit(run_id, "s", "enqueue") == []
        order.append(run_id)
        runs.live.add(run_id)

    waiters = []
    for run_id in "bcdef":
        waiters.append(asyncio.create_task(queued(run_id)))
        await asyncio.sleep(0)  # (each joins the queue before the next)
    assert runs.gate.queued("s") == 5 and order == []
    for running in "abcde":
        runs.end(running)
        await asyncio.sleep(0.01)
        assert order == list("bcdef"[: "abcde".index(running) + 1])
    await asyncio.gather(*waiters)
    assert runs.gate.queued("s") == 0


async def test_reject_names_the_runs_in_flight_and_other_sessions_are_free() -> None:
    runs = Runs()
    runs.start("a")
    assert await runs.gate.admit("b", "s", "reject") == ["a"]
    assert await runs.gate.admit("c", "other", "reject") == []


async def test_interrupt_cancels_every_run_in_flight_then_starts() -> None:
    runs = Runs()
    runs.start("a")
    runs.start("b")
    assert await runs.gate.admit("c", "s", "interrupt") == []
    assert sorted(runs.cancelled) == ["a", "b"]
    assert runs.gate.busy("s") == ["c"]


async def test_a_queue_wait_that_runs_out_is_refused_and_leaves_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_gate, "QUEUE_SECONDS", 0.05)
    runs = Runs()
    runs.start("a")
    assert await runs.gate.admit("b", "s", "enqueue") == ["a"]
    assert runs.gate.queued("s") == 0
    runs.end("a")
    assert await runs.gate.admit("c", "s", "enqueue") == []


async def test_a_run_announced_but_never_started_stops_blocking_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = Runs()
    runs.gate.track("ghost", "s")  # (its caller died before the actor registered it)
    assert await runs.gate.admit("b", "s", "reject") == ["ghost"]
    monkeypatch.setattr(session_gate, "START_GRACE_SECONDS", 0.0)
    assert await runs.gate.admit("c", "s", "reject") == []
