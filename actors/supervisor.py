"""The supervisor: one named actor per namespace that knows every live run and routes cancels."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import ray
from ray.actor import ActorHandle

from actors.pools import PoolConfig, Pools, PoolStatus, Route

PRE_CANCEL_SECONDS = 300.0
"""How long a cancel of a not-yet-started run id is remembered."""
PENDING_SECONDS = 300.0
"""How long a run announced by its caller counts as pending before its actor registers it."""
FINISHED_REMEMBERED = 100_000
ACK_TIMEOUT_SECONDS = 10.0
OWNER_ACK_SECONDS = 2.0
"""How long the owner of a cancelled run has to answer before its members' actors are told directly."""


@dataclass
class _LiveRun:
    owner: ActorHandle
    parent_run_id: str | None
    children: set[str] = field(default_factory=set)
    cancelled: bool = False


@ray.remote(num_cpus=0, max_restarts=-1)
class Supervisor:
    """A registry of live runs (run id -> owning actor, parent, children) that turns a cancel into messages,
    and the keeper of every component's replicas (`actors.pools`).

    `cancel` marks the run and its descendants and sends `cancel_local` to the run's owner, which cancels
    its member runs itself (their owners are told directly if it does not answer). A cancel of an id it
    has not seen is remembered for a while, so a run cancelled before it started never starts; it counts
    as in flight if the run's caller announced it (`expect`).
    """

    def __init__(self, namespace: str) -> None:
        self._live: dict[str, _LiveRun] = {}
        self._pre_cancelled: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._pools = Pools(_create_replica, _existing_replicas)
        from actors.runtime import use_namespace  # (runtime imports this module)

        use_namespace(namespace)  # the replicas it makes live beside it, and find it by name
        gc.freeze()  # a full collection skips the start-up objects: no ~50 ms pauses on the cancel path

    def expect(self, run_id: str) -> None:
        """A caller is about to start this run: until its actor registers it, a cancel counts as in flight."""
        if run_id not in self._live and run_id not in self._finished:
            self._pending.setdefault(run_id, time.monotonic() + PENDING_SECONDS)

    def register(self, owner: ActorHandle, runs: list[tuple[str, str | None]]) -> list[bool]:
        """Record runs (run id, parent run id) that `owner` is starting, all its starts of one tick.

        For each: False if it was cancelled already and must not start.
        """
        self._forget_expired()
        return [self._register(run_id, owner, parent_run_id) for run_id, parent_run_id in runs]

    def finish(self, run_ids: list[str]) -> list[None]:
        """Forget runs that have ended."""
        for run_id in run_ids:
            run = self._live.pop(run_id, None)
            if run is not None and run.parent_run_id in self._live:
                self._live[run.parent_run_id].children.discard(run_id)
            self._mark_finished(run_id)
        return [None] * len(run_ids)

    def _register(self, run_id: str, owner: ActorHandle, parent_run_id: str | None) -> bool:
        self._pending.pop(run_id, None)
        parent = self._live.get(parent_run_id) if parent_run_id else None
        if self._pre_cancelled.pop(run_id, None) is not None or (parent is not None and parent.cancelled):
            self._mark_finished(run_id)
            return False
        self._live[run_id] = _LiveRun(owner=owner, parent_run_id=parent_run_id)
        if parent is not None:
            parent.children.add(run_id)
        return True

    async def cancel(self, run_id: str) -> bool:
        """Cancel a run and everything under it. True if it was in flight; idempotent."""
        run = self._live.get(run_id)
        if run is None:
            if run_id in self._finished:
                return False
            self._pre_cancelled[run_id] = time.monotonic() + PRE_CANCEL_SECONDS
            return self._pending.pop(run_id, None) is not None
        if run.cancelled:
            return True
        targets = self._subtree(run_id)
        for target in targets:
            self._live[target].cancelled = True
        # The run's owner cancels its members itself, and waits for their RunCancelled before its own, so
        # the stream reads member RunCancelled then TeamRunCancelled, with nothing of the team between.
        # The members' actors are told directly only if the owner does not answer.
        try:
            await asyncio.wait_for(run.owner.cancel_local.remote(run_id), OWNER_ACK_SECONDS)
        except Exception:
            acks = [
                asyncio.ensure_future(self._live[target].owner.cancel_local.remote(target))
                for target in targets
                if target != run_id and target in self._live
            ]
            if acks:
                await asyncio.wait(acks, timeout=ACK_TIMEOUT_SECONDS)
        return True

    async def pool(self, name: str, config: PoolConfig | None) -> list[Route] | None:
        """The replicas of component `name` that take runs; a config starts (or updates) its pool. None if
        the pool is unknown and no config came with the call (the caller sends it again)."""
        return await self._pools.routes(name, config)

    def pools(self) -> list[PoolStatus]:
        """Every component's replicas: state, runs, event-loop lag, node (for `kern ps` and tests)."""
        return self._pools.status()

    def started(self, run_id: str) -> bool:
        """Whether an actor registered this run (it is live or has ended): a caller whose actor died under
        a call may start the run elsewhere only if it never did."""
        return run_id in self._live or run_id in self._finished

    def live_runs(self) -> dict[str, str | None]:
        """Run id -> parent run id of every live run (for diagnostics and tests)."""
        return {run_id: run.parent_run_id for run_id, run in self._live.items()}

    def _subtree(self, run_id: str) -> list[str]:
        """The run's descendants, children before parents, then the run itself."""
        order: list[str] = []
        for child in list(self._live[run_id].children):
            if child in self._live:
                order.extend(self._subtree(child))
        order.append(run_id)
        return order

    def _mark_finished(self, run_id: str) -> None:
        self._finished[run_id] = None
        while len(self._finished) > FINISHED_REMEMBERED:
            self._finished.popitem(last=False)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for table in (self._pre_cancelled, self._pending):
            for run_id in [r for r, expiry in table.items() if expiry < now]:
                del table[run_id]


def _create_replica(config: PoolConfig, index: int) -> ActorHandle:
    from actors.runtime import replica_actor

    return replica_actor(config, index)


def _existing_replicas(config: PoolConfig) -> dict[int, ActorHandle]:
    """Replicas of the component that are alive already (this supervisor was restarted): adopted."""
    from actors.runtime import NAMESPACE

    found: dict[int, ActorHandle] = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        index = config.index_of(actor["name"])
        if actor["namespace"] != NAMESPACE or index is None:
            continue
        try:
            found[index] = ray.get_actor(actor["name"], namespace=NAMESPACE)
        except ValueError:  # it ended meanwhile
            continue
    return found
