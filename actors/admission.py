"""`Turns`: slots for runs in flight and a first-come-first-served queue for the runs past them.

One `Turns` counts the caller runs of one replica (in the replica's actor); `NodeTurns`, in the
supervisor, those of each node (`Admission.max_runs_per_node`). Used on one event loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from typing import Any, Literal

Entry = Literal["go", "wait", "full"]

FULL = "full:"
"""How a refusal of a run under its `Admission` starts, as a start's answer: `full:<retry after, s>:<why>`."""


class ReplicaFull(Exception):
    """No room for the run under its component's `Admission`, on the replica or on its node."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.retry_after))

    def refusal(self) -> str:
        """As a start's answer (`of_refusal` reads it back)."""
        return f"{FULL}{self.retry_after:g}:{self}"

    @classmethod
    def of_refusal(cls, refusal: str | None) -> ReplicaFull | None:
        """The refusal a start answered, if it was for want of room."""
        if refusal is None or not refusal.startswith(FULL):
            return None
        retry_after, message = refusal.removeprefix(FULL).split(":", 1)
        return cls(message, float(retry_after))


MEAN_WEIGHT = 0.2
"""Weight of the newest run in the running mean of how long a run holds its slot."""


class Turns:
    """Which runs hold a slot, which wait for one (in order), and how long a slot is usually held."""

    def __init__(self) -> None:
        self._running: dict[str, float] = {}
        """Run id -> when it took its slot (monotonic)."""
        self._waiting: OrderedDict[str, tuple[int, asyncio.Future[None]]] = OrderedDict()
        """Run id -> (the slots it may use, set once it has one), oldest first."""
        self._mean_seconds = 1.0

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def enter(self, run_id: str, max_runs: int, max_queued: int) -> Entry:
        """Take a slot ("go"), a place in the queue ("wait": `wait` for the turn), or neither ("full")."""
        if run_id in self._running:
            return "go"
        if run_id in self._waiting:
            return "wait"
        if len(self._running) < max_runs and not self._waiting:
            self._running[run_id] = time.monotonic()
            return "go"
        if len(self._waiting) >= max_queued:
            return "full"
        self._waiting[run_id] = (max_runs, asyncio.get_running_loop().create_future())
        return "wait"

    def adopt(self, run_id: str) -> None:
        """A run that is in flight already holds a slot (past `max_runs` if need be)."""
        if run_id not in self._running:
            self._running[run_id] = time.monotonic()

    async def wait(self, run_id: str, seconds: float) -> bool:
        """Wait for a queued run's turn, at most `seconds`: True once it holds a slot. A run that gives up
        (or is cancelled meanwhile) leaves the queue."""
        entry = self._waiting.get(run_id)
        if entry is None:
            return run_id in self._running
        try:
            await asyncio.wait_for(asyncio.shield(entry[1]), seconds)
            return True
        except TimeoutError:
            return False
        finally:
            if self._waiting.get(run_id) is entry:
                del self._waiting[run_id]

    def leave(self, run_id: str) -> None:
        """The run ended (or gave up waiting): its slot goes to the first run waiting."""
        taken = self._running.pop(run_id, None)
        if taken is not None:
            held = time.monotonic() - taken
            self._mean_seconds += MEAN_WEIGHT * (held - self._mean_seconds)
        waiting = self._waiting.pop(run_id, None)
        if waiting is not None:
            waiting[1].cancel()
        self._promote()

    def full(self, max_runs: int, where: str, limits: str) -> ReplicaFull:
        """The refusal of a run that found no room here: how full it is, and when to try again."""
        why = f"{self.running} runs in flight and {self.waiting} waiting on {where} ({limits})"
        return ReplicaFull(why, self.retry_after(max_runs))

    def retry_after(self, max_runs: int) -> int:
        """Whole seconds after which a refused run may find room: the queue ahead of it drained at the
        pace runs have been ending (at least 1)."""
        return max(1, math.ceil(self._mean_seconds * (len(self._waiting) + 1) / max_runs))

    def _promote(self) -> None:
        while self._waiting:
            run_id, (max_runs, turn) = next(iter(self._waiting.items()))
            if len(self._running) >= max_runs:
                return
            del self._waiting[run_id]
            if not turn.done():
                self._running[run_id] = time.monotonic()
                turn.set_result(None)


class NodeTurns:
    """`Turns` per node, and which replica holds each run's slot (freed when the replica dies)."""

    def __init__(self) -> None:
        self._nodes: dict[str, Turns] = {}
        self._holders: dict[str, tuple[str, str]] = {}
        """Run id -> (its node, the actor id of the replica it runs on)."""

    def enter(
        self, node_id: str, actor_id: str, runs: list[tuple[str, int, int]]
    ) -> list[Entry | ReplicaFull]:
        """For each (run id, max runs on the node, max queued): "go", "wait", or why there is no room."""
        turns = self._nodes.setdefault(node_id, Turns())
        answers: list[Entry | ReplicaFull] = []
        for run_id, max_runs, max_queued in runs:
            entry = turns.enter(run_id, max_runs, max_queued)
            if entry == "full":
                limits = f"max_runs_per_node={max_runs}, max_queued={max_queued}"
                answers.append(turns.full(max_runs, "its node", limits))
            else:
                self._holders[run_id] = (node_id, actor_id)
                answers.append(entry)
        return answers

    def adopt(self, node_id: str, actor_id: str, run_id: str) -> None:
        """A run already in flight on the node (relearned after a restart) holds a slot, past the limit
        if need be."""
        self._nodes.setdefault(node_id, Turns()).adopt(run_id)
        self._holders[run_id] = (node_id, actor_id)

    async def wait(self, node_id: str, run_id: str, seconds: float) -> bool:
        """`Turns.wait` on the node."""
        turns = self._nodes.get(node_id)
        return turns is not None and await turns.wait(run_id, seconds)

    def leave(self, run_id: str) -> None:
        """The run ended: its node's slot (or place in the queue) is free."""
        holder = self._holders.pop(run_id, None)
        if holder is not None:
            self._nodes[holder[0]].leave(run_id)

    def lost(self, actor_id: str) -> None:
        """A replica died: the slots of its runs are free."""
        for run_id in [run_id for run_id, (_, holder) in self._holders.items() if holder == actor_id]:
            self.leave(run_id)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Node id -> (runs in flight, runs waiting), for nodes that have either."""
        return {node: (t.running, t.waiting) for node, t in self._nodes.items() if t.running or t.waiting}
