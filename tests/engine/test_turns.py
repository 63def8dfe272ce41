"""`Turns` (admission slots and their queue) under random arrivals, departures and time-outs, in-process:
never more runs in flight than allowed, never more waiting than allowed, first come first served, and
every slot given back."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.admission import FULL, NodeTurns, ReplicaFull, Turns

Step = tuple[str, int]
steps = st.lists(
    st.tuples(st.sampled_from(["arrive", "end", "give_up"]), st.integers(min_value=0, max_value=30)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, max_runs=st.integers(1, 4), max_queued=st.integers(0, 4))
def test_turns_keep_their_bounds_and_order(steps: list[Step], max_runs: int, max_queued: int) -> None:
    asyncio.run(_play(steps, max_runs, max_queued))


async def _play(steps: list[Step], max_runs: int, max_queued: int) -> None:
    turns = Turns()
    waiters: dict[str, asyncio.Task[bool]] = {}
    queue: list[str] = []  # the order the model expects turns in
    running: set[str] = set()
    for number, (action, pick) in enumerate(steps):
        if action == "arrive":
            run_id = f"run-{number}"
            entry = turns.enter(run_id, max_runs, max_queued)
            if len(running) < max_runs and not queue:
                assert entry == "go"
                running.add(run_id)
            elif len(queue) < max_queued:
                assert entry == "wait"
                queue.append(run_id)
                waiters[run_id] = asyncio.create_task(turns.wait(run_id, 3600))
            else:
                assert entry == "full"
        elif action == "end" and running:
            run_id = sorted(running)[pick % len(running)]
            running.discard(run_id)
            turns.leave(run_id)
            while queue and len(running) < max_runs:  # first come, first served
                running.add(queue.pop(0))
        elif action == "give_up" and queue:
            run_id = queue.pop(pick % len(queue))
            waiters.pop(run_id).cancel()
            turns.leave(run_id)
        for _ in range(3):  # (a waiter wakes in a loop turn or two)
            await asyncio.sleep(0)
        for run_id in running:
            if run_id in waiters:
                waiter = waiters.pop(run_id)
                assert waiter.done() and waiter.result(), f"{run_id} got its turn, first come first served"
        assert (turns.running, turns.waiting) == (len(running), len(queue))
        assert turns.running <= max_runs and turns.waiting <= max_queued
    for run_id in list(running) + queue:
        turns.leave(run_id)
    assert (turns.running, turns.waiting) == (0, 0), "every slot is given back"
    for waiter in waiters.values():
        waiter.cancel()


def test_a_wait_that_runs_out_leaves_the_queue() -> None:
    async def play() -> None:
        turns = Turns()
        assert turns.enter("first", 1, 1) == "go"
        assert turns.enter("second", 1, 1) == "wait"
        assert turns.enter("third", 1, 1) == "full"
        assert await turns.wait("second", 0.05) is False
        assert turns.waiting == 0 and turns.enter("third", 1, 1) == "wait"
        turns.leave("first")
        assert await turns.wait("third", 1) is True and turns.running == 1

    asyncio.run(play())


def test_retry_after_follows_how_long_runs_hold_their_slot() -> None:
    async def play() -> None:
        turns = Turns()
        assert turns.retry_after(1) == 1, "at least a second"
        turns._mean_seconds = 10.0  # (runs have been taking 10 s each)
        for number in range(3):
            turns.enter(f"run-{number}", 1, 5)
        assert turns.retry_after(1) == 30, "two waiting, then this one: 3 runs of 10 s on one slot"
        assert turns.retry_after(2) == 15

    asyncio.run(play())


def test_node_turns_count_across_replicas_and_free_a_dead_replicas_slots() -> None:
    async def play() -> None:
        nodes = NodeTurns()
        assert nodes.enter("node-a", "replica-1", [("r1", 2, 0), ("r2", 2, 0)]) == ["go", "go"]
        [full] = nodes.enter("node-a", "replica-2", [("r3", 2, 0)])
        assert isinstance(full, ReplicaFull)
        refusal = full.refusal()  # (as a start answers it)
        assert refusal.startswith(FULL) and "2 runs in flight and 0 waiting on its node" in refusal
        assert refusal.endswith("(max_runs_per_node=2, max_queued=0)")
        assert nodes.enter("node-b", "replica-3", [("r4", 2, 0)]) == ["go"], "another node, its own count"
        nodes.lost("replica-1")
        assert nodes.counts() == {"node-b": (1, 0)}
        assert nodes.enter("node-a", "replica-2", [("r3", 2, 0)]) == ["go"]
        nodes.leave("r3")
        nodes.leave("r4")
        assert nodes.counts() == {}

    asyncio.run(play())
