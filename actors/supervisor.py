"""The supervisor: one named actor per namespace that knows every live run and routes cancels."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors.admission import Entry, NodeTurns, ReplicaFull
from actors.owners import RunInFlight, RunOwner
from actors.pools import PoolConfig, Pools, PoolStatus, Route
from actors.session_gate import SessionGate
from kern.run.agent import RunOutput
from kern.specs import MAX_RUN_ID_CHARS, BusySession

log = logging.getLogger(__name__)

PRE_CANCEL_SECONDS = 300.0
"""How long a cancel of a not-yet-started run id is remembered."""
PENDING_SECONDS = 300.0
"""How long a run announced by its caller counts as pending before its actor registers it."""
RESUME_CLAIM_SECONDS = 30.0
"""How long a continue's claim on a paused run keeps other continues out before its actor registers it
(a caller that dies before then does not block the run for longer)."""
REMEMBERED = 100_000
"""The most run ids kept in each of the tables of ended, pending and early-cancelled runs and of owners
(the oldest go first): a flood of cancels of unknown ids cannot grow the supervisor without bound."""
ACK_TIMEOUT_SECONDS = 5.0
OWNER_ACK_SECONDS = 2.0
"""How long the owner of a cancelled run has to answer before its members' actors are told directly."""
RECOVERY_SECONDS = 5.0
"""After a (re)start, how long the supervisor asks the replicas for their runs in flight, and how long
a cancel waits for that answer."""


class _PreCancel(NamedTuple):
    expires: float
    claim: RunOwner | None
    """Whose run the cancel was asked for (None: anyone's): it stops only a run of that owner."""


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

    It holds nothing that cannot be rebuilt: after a restart (or if it was killed and made anew) it asks
    every replica for its runs in flight, and cancels wait for that answer. When a replica dies, the
    runs it owned are forgotten and their member runs, on other replicas, are cancelled: no orphans.
    """

    def __init__(self, namespace: str) -> None:
        self._live: dict[str, _LiveRun] = {}
        self._pre_cancelled: OrderedDict[str, _PreCancel] = OrderedDict()
        self._pending: OrderedDict[str, float] = OrderedDict()
        self._finished: OrderedDict[str, ActorHandle | None] = OrderedDict()
        """Ended runs, and the actor each ran on (where its stream may still be, `stream_of`)."""
        self._owners: OrderedDict[str, RunOwner] = OrderedDict()
        self._pools = Pools(_create_replica, _existing_replicas, self._owner_lost)
        self._node_turns = NodeTurns()
        self._sessions = SessionGate(lambda run_id: run_id in self._live, self.cancel, REMEMBERED)
        self._recovery: asyncio.Task[None] | None = None
        from actors.runtime import use_namespace  # (runtime imports this module)

        use_namespace(namespace)  # the replicas it makes live beside it, and find it by name
        from actors.spares import keep_spares

        keep_spares()  # idle workers for new actors to start on (KERN_SPARE_WORKERS per node)
        gc.freeze()  # a full collection skips the start-up objects: no ~50 ms pauses on the cancel path

    async def expect(self, run_id: str, owner: RunOwner | None = None) -> None:
        """A caller is about to start this run of `owner`: until its actor registers it, a cancel counts as
        in flight; a cancel that names an owner (an HTTP route, a user) stops it only if it is theirs."""
        self._recover()
        if owner is not None:
            _remember(self._owners, run_id, owner)
            if owner.session_id is not None and run_id not in self._finished:
                self._sessions.track(run_id, owner.session_id)
        if run_id not in self._live and run_id not in self._finished:
            _remember(self._pending, run_id, time.monotonic() + PENDING_SECONDS)

    async def admit(self, run_id: str, owner: RunOwner, policy: BusySession) -> list[str]:
        """A caller is about to start this run, under a busy-session policy (`actors.session_gate`): []
        once it may start (it is then expected, as `expect`), else the runs in its way."""
        await self._recovered()
        assert owner.session_id is not None, "a run always has a session"
        blocking = await self._sessions.admit(run_id, owner.session_id, policy)
        if not blocking:
            await self.expect(run_id, owner)
        return blocking

    async def node_enter(
        self, node_id: str, actor_id: str, runs: list[tuple[str, int, int]]
    ) -> list[Entry | ReplicaFull]:
        """Runs a replica on `node_id` lets in, under a per-node limit (`actors.admission.NodeTurns`)."""
        return self._node_turns.enter(node_id, actor_id, runs)

    async def node_turn(self, node_id: str, run_id: str, seconds: float) -> bool:
        """Wait (at most `seconds`) for a queued run's turn on its node: True once it may start."""
        return await self._node_turns.wait(node_id, run_id, seconds)

    def node_runs(self) -> dict[str, tuple[int, int]]:
        """Node id -> (caller runs in flight, waiting) under per-node limits."""
        return self._node_turns.counts()

    async def stream_of(self, run_id: str) -> ActorHandle | None:
        """The actor that runs (or lately ran) this run, where its stream can be rejoined; None if unknown."""
        await self._recovered()
        run = self._live.get(run_id)
        return run.owner if run is not None else self._finished.get(run_id)

    async def snapshot(self, run_id: str) -> RunOutput | None:
        """A live run as its actor has it now (RUNNING, its partial answer); None if it is not live or its
        actor does not answer within `ACK_TIMEOUT_SECONDS`."""
        run = self._live.get(run_id)
        if run is None:
            return None
        try:
            return await asyncio.wait_for(run.owner.snapshot.remote(run_id), ACK_TIMEOUT_SECONDS)
        except (RayActorError, TimeoutError):
            return None

    def queued(self, session_id: str) -> int:
        """How many runs wait their turn on the session (`enqueue`)."""
        return self._sessions.queued(session_id)

    async def claim_resume(self, run_id: str, owner: RunOwner) -> bool:
        """A caller is about to continue this paused run: False if it is in flight or about to be (another
        continue has it); otherwise it is expected as a new start (its earlier end forgotten, so a replica
        that is gone can be replaced)."""
        await self._recovered()
        if run_id in self._live or self._pending.get(run_id, 0.0) > time.monotonic():
            return False
        self._finished.pop(run_id, None)
        _remember(self._owners, run_id, owner)
        _remember(self._pending, run_id, time.monotonic() + RESUME_CLAIM_SECONDS)
        return True

    async def register(self, owner: ActorHandle, runs: list[tuple[str, str | None]]) -> list[bool]:
        """Record runs (run id, parent run id) that `owner` is starting, all its starts of one tick.

        For each: False if it was cancelled already and must not start.
        """
        self._recover()
        self._forget_expired()
        return [self._register(run_id, owner, parent_run_id) for run_id, parent_run_id in runs]

    async def finish(self, run_ids: list[str]) -> list[None]:
        """Forget runs that have ended."""
        for run_id in run_ids:
            self._forget_run(run_id)
        return [None] * len(run_ids)

    def _register(self, run_id: str, owner: ActorHandle, parent_run_id: str | None) -> bool:
        self._pending.pop(run_id, None)
        parent = self._live.get(parent_run_id) if parent_run_id else None
        early = self._pre_cancelled.pop(run_id, None)
        cancelled_early = early is not None and self._may_cancel(early.claim, run_id)
        if cancelled_early or (parent is not None and parent.cancelled):
            self._mark_finished(run_id)
            self._sessions.untrack(run_id)
            return False
        self._adopt(run_id, owner, parent_run_id)
        return True

    def _adopt(self, run_id: str, owner: ActorHandle, parent_run_id: str | None) -> None:
        self._live[run_id] = _LiveRun(owner=owner, parent_run_id=parent_run_id)
        parent = self._live.get(parent_run_id) if parent_run_id else None
        if parent is not None:
            parent.children.add(run_id)

    def _forget_run(self, run_id: str) -> None:
        self._sessions.untrack(run_id)
        self._node_turns.leave(run_id)
        self._pending.pop(run_id, None)  # (a continue refused for want of room holds no claim)
        run = self._live.pop(run_id, None)
        if run is not None and run.parent_run_id in self._live:
            self._live[run.parent_run_id].children.discard(run_id)
        self._mark_finished(run_id, run.owner if run is not None and run.parent_run_id is None else None)

    async def cancel(self, run_id: str, claim: RunOwner | None = None) -> bool | None:
        """Cancel a run and everything under it. True only if the run will end cancelled (its actor said
        so, or it had not started and now never will); idempotent. With a `claim`, None if the run is
        known to belong to another agent, team, session or user (nothing is cancelled)."""
        await self._recovered()
        if not self._may_cancel(claim, run_id):
            return None
        run = self._live.get(run_id)
        if run is None:
            if run_id in self._finished or len(run_id) > MAX_RUN_ID_CHARS:  # (no run has such an id)
                return False
            _remember(self._pre_cancelled, run_id, _PreCancel(time.monotonic() + PRE_CANCEL_SECONDS, claim))
            return self._pending.pop(run_id, None) is not None
        if run.cancelled:
            return True
        targets = self._subtree(run_id)
        for target in targets:
            self._live[target].cancelled = True
        # The run's owner cancels its members itself, and waits for their RunCancelled before its own, so
        # the stream reads member RunCancelled then TeamRunCancelled, with nothing of the team between.
        # The members' actors are told directly only if the owner is slow to answer (dead, or its node
        # hangs); the answer is the owner's, so True means the run will end cancelled.
        asking: asyncio.Future[bool] = asyncio.ensure_future(run.owner.cancel_local.remote(run_id))
        done, _ = await asyncio.wait({asking}, timeout=OWNER_ACK_SECONDS)
        if not done:
            self._cancel_directly([target for target in targets if target != run_id])
            done, _ = await asyncio.wait({asking}, timeout=ACK_TIMEOUT_SECONDS)
        if not done:
            asking.cancel()
            return False
        return asking.exception() is None and bool(asking.result())

    def _may_cancel(self, claim: RunOwner | None, run_id: str) -> bool:
        owner = self._owners.get(run_id)
        return claim is None or owner is None or claim.admits(owner)

    def owner(self, run_id: str) -> RunOwner | None:
        """Whose run this is, if its caller said so (lately: the table holds the newest `REMEMBERED`)."""
        return self._owners.get(run_id)

    def _cancel_directly(self, run_ids: list[str]) -> None:
        """Tell each run's own actor to cancel it (its parent's actor cannot); not waited for."""
        for run_id in run_ids:
            if run_id in self._live:
                asking: asyncio.Future[bool] = asyncio.ensure_future(
                    self._live[run_id].owner.cancel_local.remote(run_id)
                )
                asking.add_done_callback(_ignore_failure)

    def _owner_lost(self, actor_id: str) -> None:
        """A replica died: its runs are over, and their member runs elsewhere are cancelled (orphans)."""
        self._node_turns.lost(actor_id)
        dead = [run_id for run_id, run in self._live.items() if run.owner._actor_id.hex() == actor_id]
        orphans = [child for run_id in dead for child in self._live[run_id].children if child not in dead]
        for run_id in dead:
            self._forget_run(run_id)
        if orphans:
            log.warning("kern supervisor: cancelling %d member runs whose team's actor died", len(orphans))
            self._cancel_directly(orphans)

    def _recover(self) -> None:
        """On the first call after a (re)start: relearn the runs in flight from the replicas."""
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._relearn_runs())

    async def _recovered(self) -> None:
        """Wait (bounded) until the runs in flight are relearned, so an answer about a run is exact."""
        self._recover()
        assert self._recovery is not None
        if not self._recovery.done():  # (the cancel path: no extra loop turn once recovered)
            await asyncio.wait({self._recovery}, timeout=RECOVERY_SECONDS)

    async def _relearn_runs(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            replicas = await loop.run_in_executor(None, _all_replicas)
        except Exception:
            log.exception("kern supervisor: could not list the replicas")
            return
        answers = await asyncio.gather(
            *(asyncio.wait_for(_runs_of(handle), RECOVERY_SECONDS) for handle in replicas),
            return_exceptions=True,
        )
        for handle, answer in zip(replicas, answers, strict=True):
            if isinstance(answer, BaseException):
                continue  # dead or not answering: its runs end with it, and its pool replaces it
            running, ended = answer
            for run_id in ended:
                if run_id not in self._live:
                    self._mark_finished(run_id)
            for in_flight in running:
                if in_flight.run_id not in self._live and in_flight.run_id not in self._finished:
                    self._adopt(in_flight.run_id, handle, in_flight.parent_run_id)
                    self._relearn_owner(in_flight, handle._actor_id.hex())
        for run_id, run in self._live.items():  # a member may have answered before its team
            if run.parent_run_id in self._live:
                self._live[run.parent_run_id].children.add(run_id)

    def _relearn_owner(self, run: RunInFlight, actor_id: str) -> None:
        """Whose a relearned run is, so claims, busy-session policies and per-node limits count it."""
        if run.owner is not None:
            _remember(self._owners, run.run_id, run.owner)
            if run.owner.session_id is not None:
                self._sessions.track(run.run_id, run.owner.session_id)
        if run.node_id is not None:
            self._node_turns.adopt(run.node_id, actor_id, run.run_id)

    async def pool(self, name: str, config: PoolConfig | None) -> list[Route] | None:
        """The replicas of component `name` that take runs; a config starts (or updates) its pool. None if
        the pool is unknown and no config came with the call (the caller sends it again)."""
        self._recover()
        return await self._pools.routes(name, config)

    async def stop(self, components: list[str] | None) -> tuple[list[str], list[str]]:
        """`kern stop`: cancel the runs of these components (`<kind>:<id>` or an id; None: all of them)
        and end their replicas: a pool's once its runs have ended, any other at once. Returns the names
        of the replicas that end, and the components asked for that have none."""
        await self._recovered()
        replicas = await asyncio.get_running_loop().run_in_executor(None, _named_replicas)
        chosen = {name: handle for name, handle in replicas.items() if _chosen(name, components)}
        pooled = set(self._pools.close(sorted({_component(name) for name in chosen})))
        owners = {handle._actor_id.hex() for handle in chosen.values()}
        runs = [run_id for run_id, run in self._live.items() if run.owner._actor_id.hex() in owners]
        roots = [run_id for run_id in runs if self._live[run_id].parent_run_id not in runs]
        await asyncio.gather(*(self.cancel(run_id) for run_id in roots), return_exceptions=True)
        for name, handle in chosen.items():
            if name not in pooled:
                ray.kill(handle, no_restart=True)
                self._owner_lost(handle._actor_id.hex())
        unknown = [c for c in components or [] if not any(_chosen(name, [c]) for name in chosen)]
        return sorted(chosen), unknown

    def pools(self) -> list[PoolStatus]:
        """Every component's replicas: state, runs, event-loop lag, node (for `kern ps` and tests)."""
        return self._pools.status()

    def started(self, run_id: str) -> bool:
        """Whether an actor registered this run (it is live or has ended): a caller whose actor died under
        a call may start the run elsewhere only if it never did."""
        return run_id in self._live or run_id in self._finished

    async def known(self, run_id: str) -> bool:
        """Whether a run with this id was announced, is in flight or has ended: its id is taken."""
        await self._recovered()
        return run_id in self._pending or run_id in self._live or run_id in self._finished

    def sizes(self) -> dict[str, int]:
        """How many run ids each of its tables holds (for diagnostics and tests)."""
        return {
            "live": len(self._live),
            "finished": len(self._finished),
            "pending": len(self._pending),
            "pre_cancelled": len(self._pre_cancelled),
            "owners": len(self._owners),
            "sessions_tracked": self._sessions.tracked(),
        }

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

    def _mark_finished(self, run_id: str, owner: ActorHandle | None = None) -> None:
        _remember(self._finished, run_id, owner)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        while self._pending and next(iter(self._pending.values())) < now:  # oldest first
            self._pending.popitem(last=False)
        while self._pre_cancelled and next(iter(self._pre_cancelled.values())).expires < now:
            self._pre_cancelled.popitem(last=False)


def _ignore_failure(done: asyncio.Future[Any]) -> None:
    """A cancel that could not be delivered: its run's actor is gone, and the run with it."""
    if not done.cancelled():
        done.exception()


def _remember(table: OrderedDict[str, Any], run_id: str, value: Any) -> None:
    table[run_id] = value
    table.move_to_end(run_id)
    while len(table) > REMEMBERED:
        table.popitem(last=False)


def _create_replica(config: PoolConfig, index: int) -> ActorHandle:
    from actors.runtime import replica_actor

    return replica_actor(config, index)


async def _runs_of(handle: ActorHandle) -> tuple[list[RunInFlight], list[str]]:
    """A replica's runs in flight, and the ids of those that ended lately."""
    running: list[RunInFlight] = await handle.runs.remote()
    ended: list[str] = await handle.ended.remote()
    return running, ended


def _all_replicas() -> list[ActorHandle]:
    """Every replica of every component in this namespace."""
    if not ray.is_initialized():  # the class used in-process, in tests
        return []
    return list(_named_replicas().values())


def _named_replicas(keep: Callable[[str], bool] = lambda name: True) -> dict[str, ActorHandle]:
    """The replicas in this namespace whose actor names `keep` takes (default: every component's)."""
    from actors.runtime import NAMESPACE

    found: dict[str, ActorHandle] = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        name = actor["name"]
        if actor["namespace"] == NAMESPACE and name.startswith(("kern:agent:", "kern:team:")) and keep(name):
            try:
                found[name] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:  # it ended meanwhile
                continue
    return found


def _component(replica_name: str) -> str:
    """`kern:agent:writer#2` -> `kern:agent:writer`."""
    return replica_name.partition("#")[0]


def _chosen(replica_name: str, components: list[str] | None) -> bool:
    """Whether the replica serves one of `components` (`<kind>:<id>` or a bare id)."""
    _, kind, component_id = _component(replica_name).split(":", 2)
    return components is None or any(c in (component_id, f"{kind}:{component_id}") for c in components)


def _existing_replicas(config: PoolConfig) -> dict[int, ActorHandle]:
    """Replicas of the component that are alive already (this supervisor was restarted): adopted."""
    indexed = (
        (config.index_of(name), handle)
        for name, handle in _named_replicas(lambda name: config.index_of(name) is not None).items()
    )
    return {index: handle for index, handle in indexed if index is not None}
