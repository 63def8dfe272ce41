"""Replica pools: the supervisor keeps each component's replicas between its bounds, by load.

Every second the supervisor asks each replica for its load (runs in flight, CPU, event-loop lag), and
reads the answer a round later: nothing here waits on a replica, and actors are created on a worker
thread (the first creation of a class exports it, seconds of CPU), so the supervisor's event loop,
which carries every cancel, never stalls on a pool. A pool grows as soon as its replicas are busy (more
than `target_cpu` of a core each, averaged over 10 s, or more than `target_runs` runs each), never past
the cluster's CPU count, and shrinks once fewer replicas would have done for `idle_seconds`: a replica
being removed takes no new runs, and is killed only when its last run has ended and callers have had
time to see the new table. A replica that dies, or stops answering,
is replaced. The first replica (the component's plain actor name) is never removed: it is the one every
process can find by name, and the one callers fall back on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from kern.placement import Placement
from kern.replicas import PoolStatus, Replicas, ReplicaStatus

POLL_SECONDS = 1.0
CPU_WINDOW_POLLS = 10
"""A replica's CPU is averaged over this many polls (seconds) before the pool sizes itself by it."""
CLUSTER_CHECK_SECONDS = 10.0
"""How often the cluster's CPU count (the most replicas a pool may have) is read."""
STUCK_SECONDS = 30.0
"""A replica that leaves a poll unanswered this long is stuck: it is killed (its runs end with an error)."""
START_LIMIT_SECONDS = 120.0
"""A replica not up after this long (no node can place it, its process fails to start) is given up."""
RETIRE_GRACE_SECONDS = 2.0
"""A replica being removed keeps refusing runs at least this long before it is killed, so most callers
that picked it from an older table are told to go elsewhere (one that finds it dead goes elsewhere too)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    """What the supervisor needs to keep one component's replicas."""

    name: str
    """The first replica's actor name, `kern:<kind>:<id>`; the others are `<name>#1`, `<name>#2`..."""
    kind: str
    ray_options: dict[str, Any]
    bounds: Replicas
    placement: Placement = field(default_factory=Placement)
    near_node: str | None = None
    """The node of the team's actor that uses this component (a member): `with_team` places it there."""

    @property
    def options_key(self) -> str:
        """What a replica is created with (not `near_node`: a member used by teams on two nodes is one
        pool); replicas made with another key are replaced."""
        return repr((self.placement.model_dump(), sorted(self.ray_options.items())))

    def replica_name(self, index: int) -> str:
        return self.name if index == 0 else f"{self.name}#{index}"

    def index_of(self, actor_name: str) -> int | None:
        """The replica index an actor name stands for; None if it is not one of this component's."""
        if actor_name == self.name:
            return 0
        prefix, _, index = actor_name.rpartition("#")
        return int(index) if prefix == self.name and index.isdigit() else None


class ReplicaLoad(NamedTuple):
    """A replica's answer to the supervisor's poll."""

    runs: int
    lag_ms: float
    """The longest its event loop was late since the previous poll."""
    cpu: float
    """Cores its process used since the previous poll (1.0: one core all the time)."""
    node_id: str
    stuck_tools: int
    records_waiting: int
    records_lost: int
    options_key: str
    """The `PoolConfig.options_key` it was created with."""
    pid: int
    rss_bytes: int
    idle_seconds: float
    """How long it has had no run in flight (0 while it has one)."""


Route = tuple[str, ActorHandle, int]
"""A replica that takes runs, as callers see it: (name, handle, runs in flight at the last poll)."""


@dataclass
class _Replica:
    index: int
    handle: ActorHandle | None = None
    """None while the actor is being created."""
    options_key: str | None = None
    """What it was created with (`PoolConfig.options_key`); learnt from its first poll if adopted."""
    created: float = field(default_factory=time.monotonic)
    load: ReplicaLoad | None = None
    """None until it first answers."""
    poll: concurrent.futures.Future[ReplicaLoad] | None = None
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=CPU_WINDOW_POLLS))
    """Its CPU at the last polls: the pool grows on the average, not on one busy second."""
    polled: float = 0.0
    draining_since: float | None = None

    @property
    def state(self) -> Literal["starting", "ready", "draining"]:
        if self.draining_since is not None:
            return "draining"
        return "starting" if self.load is None else "ready"

    @property
    def runs(self) -> int:
        return self.load.runs if self.load else 0

    @property
    def mean_cpu(self) -> float:
        """Cores used, over the last `CPU_WINDOW_POLLS` seconds (a replica younger than that counts as
        idle for the rest: its first seconds, lazy imports and the first SDK client, are no load)."""
        return sum(self.cpu) / CPU_WINDOW_POLLS


ReplicaFactory = Callable[[PoolConfig, int], ActorHandle]
LossHandler = Callable[[str], None]
"""Told the actor id (hex) of a replica that died or was killed: its runs are over."""


class Pool:
    """One component's replicas."""

    def __init__(
        self,
        config: PoolConfig,
        create: ReplicaFactory,
        adopted: dict[int, ActorHandle],
        lost: LossHandler,
    ) -> None:
        self.config = config
        self.problem: str | None = None
        self._create = create
        self._lost = lost
        self._replicas = {index: _Replica(index, handle) for index, handle in adopted.items()}
        self._low_since: float | None = None
        self._busy_since = time.monotonic()
        self._limit = config.bounds.max
        self.closing = False
        """Stopped (`kern stop`) or idle too long: its replicas drain and end, then the pool is forgotten."""
        if 0 not in self._replicas:
            self._add(0)

    @property
    def closed(self) -> bool:
        return self.closing and not self._replicas

    def reconfigure(self, config: PoolConfig) -> None:
        """A caller's settings. Bounds apply at the next round; replicas created with other options
        (placement, `ray_options`) are replaced: they take no new runs and end once their runs have."""
        self.config = dataclasses.replace(config, near_node=self.config.near_node or config.near_node)
        now = time.monotonic()
        for replica in self._replicas.values():
            if replica.options_key not in (None, config.options_key):
                self._drain(replica, now, "its placement or ray_options changed")

    def close(self) -> None:
        """Take no new runs; each replica ends once its runs have (`kern stop` cancels them first)."""
        self.closing = True
        now = time.monotonic()
        for replica in self._replicas.values():
            self._drain(replica, now, None)

    def replica_names(self) -> list[str]:
        return [self.config.replica_name(index) for index in self._replicas]

    def routes(self) -> list[Route]:
        """The replicas that take runs."""
        return [
            (self.config.replica_name(r.index), r.handle, r.runs)
            for r in self._replicas.values()
            if r.handle is not None and r.state == "ready"
        ]

    def status(self) -> PoolStatus:
        return PoolStatus(
            name=self.config.name,
            kind=self.config.kind,
            bounds=self.config.bounds,
            limit=self._limit,
            problem=self.problem,
            replicas=[
                ReplicaStatus(
                    name=self.config.replica_name(r.index),
                    state=r.state,
                    runs=r.runs,
                    lag_ms=r.load.lag_ms if r.load else 0.0,
                    cpu=r.mean_cpu,
                    node_id=r.load.node_id if r.load else None,
                    stuck_tools=r.load.stuck_tools if r.load else 0,
                    records_waiting=r.load.records_waiting if r.load else 0,
                    records_lost=r.load.records_lost if r.load else 0,
                    pid=r.load.pid if r.load else None,
                    memory_mib=r.load.rss_bytes / 2**20 if r.load else None,
                    idle_seconds=r.load.idle_seconds if r.load else None,
                )
                for r in sorted(self._replicas.values(), key=lambda r: r.index)
            ],
        )

    def tend(self, now: float, cpus: float) -> None:
        """One round: read last round's answers, drop the dead and the stuck, poll again, grow or shrink
        (never past the cluster's CPU count: a replica is one process, and more processes than cores
        only add overhead)."""
        bounds = self.config.bounds
        self._limit = max(bounds.min, min(bounds.max, int(cpus)))
        for replica in list(self._replicas.values()):
            if replica.handle is not None:
                self._check(replica, now)
        if self.closing:
            return
        if any(replica.runs or replica.load is None for replica in self._replicas.values()):
            self._busy_since = now
        if bounds.exit_idle_seconds is not None and now - self._busy_since >= bounds.exit_idle_seconds:
            log.info(
                "kern pool %s: idle for %.0f s, its replicas exit", self.config.name, now - self._busy_since
            )
            self.close()
            return
        self._scale(now)
        if 0 not in self._replicas:  # the first replica, the one callers find by name, is always there
            self._add(0)

    def _check(self, replica: _Replica, now: float) -> None:
        assert replica.handle is not None
        name = self.config.replica_name(replica.index)
        if replica.poll is not None:
            if not replica.poll.done():
                if replica.load is None and now - replica.created > START_LIMIT_SECONDS:
                    self._kill(replica, f"replica {name} did not start in {START_LIMIT_SECONDS:.0f} s")
                elif replica.load is not None and now - replica.polled > STUCK_SECONDS:
                    self._kill(replica, f"replica {name} did not answer for {STUCK_SECONDS:.0f} s")
                return
            try:
                replica.load = replica.poll.result()
                replica.cpu.append(replica.load.cpu)
                replica.options_key = replica.options_key or replica.load.options_key
                if replica.options_key != self.config.options_key:
                    self._drain(replica, now, "its placement or ray_options changed")
            except RayActorError as exc:
                if replica.draining_since is None:
                    self._note(f"replica {name} died: {type(exc).__name__}")
                self._replicas.pop(replica.index, None)
                self._lost(replica.handle._actor_id.hex())
                return
            except Exception as exc:
                self._note(f"replica {name} could not tell its load: {type(exc).__name__}: {exc}")
            if (
                replica.draining_since is not None
                and replica.runs == 0
                and replica.load is not None
                and replica.load.records_waiting == 0  # its writer still holds records for the database
                and now - replica.draining_since >= RETIRE_GRACE_SECONDS
            ):
                self._kill(replica, None)
                return
        replica.poll = replica.handle.load.remote().future()
        replica.polled = now

    def _scale(self, now: float) -> None:
        bounds = self.config.bounds
        serving = [r for r in self._replicas.values() if r.draining_since is None]
        by_runs = math.ceil(sum(r.runs for r in serving) / bounds.target_runs)
        by_cpu = math.ceil(sum(r.mean_cpu for r in serving) / bounds.target_cpu)
        wanted = min(self._limit, max(bounds.min, by_runs, by_cpu))
        if wanted >= len(serving):
            self._low_since = None
            for _ in range(wanted - len(serving)):
                self._add(min(set(range(len(self._replicas) + 1)) - set(self._replicas)))
            return
        self._low_since = self._low_since or now
        if now - self._low_since < bounds.idle_seconds:
            return
        self._low_since = None
        removable = sorted(
            (r for r in serving if r.index != 0 and r.handle is not None), key=lambda r: (r.runs, -r.index)
        )
        for replica in removable[: len(serving) - wanted]:
            self._drain(replica, now, None)

    def _drain(self, replica: _Replica, now: float, why: str | None) -> None:
        """The replica takes no new runs, and is killed once its runs have ended."""
        if replica.draining_since is not None:
            return
        if why:
            log.info(
                "kern pool %s: replacing %s: %s",
                self.config.name,
                self.config.replica_name(replica.index),
                why,
            )
        replica.draining_since = now
        if replica.handle is not None:
            replica.handle.retire.remote()

    def _add(self, index: int) -> None:
        """Create a replica on a worker thread; it counts as starting meanwhile."""
        replica = self._replicas[index] = _Replica(index, options_key=self.config.options_key)
        creating = asyncio.get_running_loop().run_in_executor(None, self._create, self.config, index)
        creating.add_done_callback(lambda done: self._created(replica, done))

    def _created(self, replica: _Replica, done: asyncio.Future[ActorHandle]) -> None:
        name = self.config.replica_name(replica.index)
        if done.exception() is not None:
            self._replicas.pop(replica.index, None)
            self._note(f"replica {name} could not be created: {done.exception()}")
        else:
            replica.handle = done.result()
            replica.created = time.monotonic()
            if replica.draining_since is not None:  # closed or reconfigured while it was being made
                replica.handle.retire.remote()

    def _kill(self, replica: _Replica, problem: str | None) -> None:
        if problem:
            self._note(problem)
        self._replicas.pop(replica.index, None)
        if replica.handle is not None:
            try:
                ray.kill(replica.handle, no_restart=True)
            except Exception:  # already gone
                pass
            self._lost(replica.handle._actor_id.hex())

    def _note(self, problem: str) -> None:
        self.problem = problem
        log.warning("kern pool %s: %s", self.config.name, problem)


class Pools:
    """Every component's pool (held by the supervisor); tended once a second."""

    def __init__(
        self,
        create: ReplicaFactory,
        find: Callable[[PoolConfig], dict[int, ActorHandle]],
        lost: LossHandler,
    ) -> None:
        self._pools: dict[str, Pool] = {}
        self._create = create
        self._find = find
        self._lost = lost
        self._tending: asyncio.Task[None] | None = None
        self._cpus = math.inf

    async def routes(self, name: str, config: PoolConfig | None) -> list[Route] | None:
        """The replicas of `name` that take runs. A config creates the pool (adopting replicas that exist
        already, after a supervisor restart) or updates it; None if the pool is unknown and none was given."""
        if self._tending is None:
            self._tending = asyncio.create_task(self._tend_forever())
        pool = self._pools.get(name)
        if pool is not None and pool.closing:
            return []  # its replicas are ending: callers wait, then ask again and find a new pool
        if config is not None:
            if pool is None:
                adopted = await asyncio.get_running_loop().run_in_executor(None, self._find, config)
                pool = self._pools.get(name) or self._pools.setdefault(
                    name, Pool(config, self._create, adopted, self._lost)
                )
            pool.reconfigure(config)
        return None if pool is None else pool.routes()

    def close(self, names: list[str] | None) -> list[str]:
        """Close the pools of these components (None: all): their replica names."""
        closing = [pool for name, pool in self._pools.items() if names is None or name in names]
        for pool in closing:
            pool.close()
        return [replica for pool in closing for replica in pool.replica_names()]

    def status(self) -> list[PoolStatus]:
        return [pool.status() for pool in self._pools.values()]

    async def _tend_forever(self) -> None:
        checked = -math.inf
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if time.monotonic() - checked > CLUSTER_CHECK_SECONDS:
                checked = time.monotonic()
                try:
                    self._cpus = await asyncio.get_running_loop().run_in_executor(None, _cluster_cpus)
                except Exception:
                    log.exception("kern pools: could not read the cluster's resources")
            for name, pool in list(self._pools.items()):
                try:
                    pool.tend(time.monotonic(), self._cpus)
                except Exception:
                    log.exception("kern pool %s: tending failed", pool.config.name)
                if pool.closed:
                    del self._pools[name]


def _cluster_cpus() -> float:
    return float(ray.cluster_resources().get("CPU", 1.0))
