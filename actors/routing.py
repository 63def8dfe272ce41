"""Which replica takes a run: this process's view of each component's replicas, and placing runs on them.

A `Router` per component and process holds the supervisor's table of the replicas that take runs
(refreshed in the background at most once a second; only a new router's first run waits for one, at
most 2 s) and the runs this process has in flight on each. A run goes to the replica with the fewest
runs (this process's own, counted exactly, plus the others' from the last table), ties broken at random.
A replica being removed refuses the run, and a dead one cannot take it: the run goes to another
replica, the first replica of the component (found or recreated by name) as a last resort, and when all
refused, it waits for the supervisor to replace them (bounded by `PLACE_SECONDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass

import ray
from ray.actor import ActorHandle
from ray.exceptions import ActorDiedError, RayActorError, RayError

from actors.admission import ReplicaFull
from actors.link import LinkReader, ReplicaUnavailable, reader
from actors.placement import node_of
from actors.pools import PoolConfig, Route
from actors.runtime import created_on, forget_supervisor, pool_config, replica_actor, supervisor
from kern.engine.inbox import Inbox
from kern.exceptions import TooManyRunsError
from kern.specs import AgentSpec, ComponentSpec, RunRequest, TeamSpec

REFRESH_SECONDS = 1.0
"""How old the table may get before a run start asks the supervisor for a new one (in the background)."""
FIRST_TABLE_SECONDS = 2.0
"""How long a router's first run waits for the table (one supervisor call) before it takes the first
replica; later runs never wait for a table."""
RETRY_SECONDS = 1.0
"""After a table request failed (the supervisor is restarting), the next one goes this much later."""
REFRESH_GIVE_UP_SECONDS = 10.0
"""A table request unanswered for this long is given up, and the next run start sends another."""
PLACE_SECONDS = 30.0
"""How long a run start keeps trying when replicas refuse it (being removed) or are dead: long enough for
the supervisor to replace a dead replica (a few seconds), short enough to end in an error event."""
PLACE_RETRY_SECONDS = 0.2
"""The first pause once every replica refused a run; it doubles, up to 2 s."""

_lock = threading.Lock()
_routers: dict[str, Router] = {}


class Router:
    """One component's replicas as this process sees them; thread-safe."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._others: dict[str, int] = {}
        self._mine: Counter[str] = Counter()
        self._anchor: ActorHandle | None = None
        self._fetched = -float("inf")
        self._fetching_since: float | None = None
        self._configured = False
        self._tabled = False
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def anchor(self) -> ActorHandle:
        """The component's first replica, found or created by name: there is always one.

        Ray calls are made outside the lock: the table arrives in a callback on Ray's own thread, which
        a Ray call may wait for.
        """
        with self._lock:
            if self._anchor is not None:
                return self._anchor
        handle = replica_actor(self.config, 0)
        with self._lock:
            self._anchor = handle
        return handle

    def anchor_node(self) -> str | None:
        """The node of the first replica: where it runs, else (not placed yet) where this process sent it."""
        handle = self.anchor()
        return node_of(handle._actor_id.hex()) or created_on(self.config.replica_name(0))

    def ready_anchor(self, timeout: float) -> ActorHandle:
        """The first replica once it answers (recreated if the one known here has died)."""
        deadline = time.monotonic() + timeout
        while True:
            handle = self.anchor()
            try:
                ray.get(handle.running.remote(), timeout=max(deadline - time.monotonic(), 0.001))
                return handle
            except RayActorError:
                if time.monotonic() > deadline:
                    raise
                self.lost(self.config.replica_name(0))
                time.sleep(0.1)  # Ray frees a killed actor's name shortly after its death

    def pick(self, avoid: Collection[str] = ()) -> Lease:
        """The replica for a new run: the least loaded that is not in `avoid` (else the first replica)."""
        self._refresh(force=False)
        with self._lock:
            choices = [(name, handle) for name, handle, _ in self._routes if name not in avoid]
            if choices:
                load = {name: self._mine[name] + self._others.get(name, 0) for name, _ in choices}
                least = min(load.values())
                name, handle = random.choice([choice for choice in choices if load[choice[0]] == least])
                self._mine[name] += 1
                return Lease(self, name, handle)
        name, handle = self.config.replica_name(0), self.anchor()
        with self._lock:
            self._mine[name] += 1
        return Lease(self, name, handle)

    def known(self) -> list[str]:
        """Names of the replicas this process may send runs to (from the last table)."""
        with self._lock:
            return [name for name, _, _ in self._routes]

    async def first_table(self) -> None:
        """Wait (bounded) for the router's first table, so a new process spreads its first runs too."""
        with self._lock:
            if self._tabled:
                return
            arrived = asyncio.get_running_loop().create_future()
            self._waiting.append((asyncio.get_running_loop(), arrived))
        self._refresh(force=False)
        try:
            await asyncio.wait_for(arrived, FIRST_TABLE_SECONDS)
        except TimeoutError:
            pass

    def lost(self, name: str) -> None:
        """A replica died (or is being removed): stop choosing it until the supervisor lists it again."""
        with self._lock:
            self._routes = [route for route in self._routes if route[0] != name]
            if name == self.config.replica_name(0):
                self._anchor = None
        self._refresh(force=True)

    def announce(self) -> None:
        """Tell the supervisor about the component now (it starts its `min` replicas)."""
        self._refresh(force=True)

    def reconfigure(self, config: PoolConfig) -> None:
        """The component's settings changed in this process: the supervisor hears the new ones."""
        with self._lock:
            if config == self.config:
                return
            if config.options_key != self.config.options_key:
                # The supervisor replaces the replicas made with the old options: wait for its new table.
                self._routes, self._anchor, self._tabled = [], None, False
            self.config, self._configured = config, False

    def _release(self, name: str) -> None:
        with self._lock:
            self._mine[name] -= 1
            if self._mine[name] <= 0:
                del self._mine[name]

    def _refresh(self, *, force: bool) -> None:
        if not ray.is_initialized():  # the process shut Ray down: a late refresh must not start it again
            return
        now = time.monotonic()
        with self._lock:
            if self._fetching_since is not None and now - self._fetching_since < REFRESH_GIVE_UP_SECONDS:
                return
            if not force and now - self._fetched < REFRESH_SECONDS:
                return
            self._fetching_since = now
            mine_then = dict(self._mine)
            config = None if self._configured else self.config
        try:
            asked = supervisor()
            ref: ray.ObjectRef[list[Route] | None] = asked.pool.remote(self.config.name, config)
        except Exception:
            with self._lock:
                self._fetching_since = None
            return
        ref.future().add_done_callback(lambda done: self._take(done, mine_then, asked))

    def _take(self, done: Future[list[Route] | None], mine_then: dict[str, int], asked: ActorHandle) -> None:
        """The table arrives (on Ray's thread: nothing here may block)."""
        with self._lock:
            self._fetching_since = None
            self._fetched = time.monotonic()
            self._tabled = True
            waiting, self._waiting = self._waiting, []
            for loop, arrived in waiting:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_settle, arrived)
            try:
                routes = done.result()
            except Exception as exc:  # the supervisor is away (restarting): keep the table, ask again soon
                if isinstance(exc, ActorDiedError):  # killed for good: the next request makes a new one
                    forget_supervisor(asked)
                self._ask_again(RETRY_SECONDS)
                return
            if routes is None:  # it forgot the pool (it was restarted): tell it the settings again
                self._configured = False
                self._ask_again(0.0)
                return
            self._configured = True
            self._routes = routes
            self._others = {name: max(0, runs - mine_then.get(name, 0)) for name, _, runs in routes}

    def _ask_again(self, delay: float) -> None:
        """Refresh the table after `delay`, from a thread of its own (not from Ray's callback thread,
        where a Ray call may wait on itself): a restarted supervisor hears of the pool at once, not at
        the component's next run."""

        def later() -> None:
            time.sleep(delay)
            self._refresh(force=True)

        threading.Thread(target=later, name="kern-router-refresh", daemon=True).start()


def _settle(arrived: asyncio.Future[None]) -> None:
    if not arrived.done():
        arrived.set_result(None)


@dataclass
class Lease:
    """One run's place on a replica, counted against it until released."""

    router: Router
    name: str
    handle: ActorHandle
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.router._release(self.name)


def router(spec: AgentSpec | TeamSpec, near_node: str | None = None) -> Router:
    """This process's router for the component (a team's member: `near_node` is the team's node)."""
    config = pool_config(spec, near_node)
    with _lock:
        found = _routers.get(config.name)
        if found is None:
            found = _routers[config.name] = Router(config)
    found.reconfigure(config)
    return found


@dataclass
class PlacedRun:
    """A run under way on a replica, its frames arriving in `inbox` over this loop's link to it."""

    run_id: str
    lease: Lease
    link: LinkReader
    inbox: Inbox

    @property
    def handle(self) -> ActorHandle:
        return self.lease.handle

    def close(self) -> None:
        """Stop receiving the run (call on the link's loop) and release its place."""
        self.link.close(self.run_id)
        self.lease.release()


class Placement:
    """The replicas one run start has tried: which to avoid next, and when to wait or give up."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.refused: list[str] = []
        self._full: list[ReplicaFull] = []
        self._deadline = time.monotonic() + PLACE_SECONDS
        self._pause = PLACE_RETRY_SECONDS

    def pick(self) -> Lease:
        return self.router.pick(avoid=self.refused)

    def full(self, name: str, full: ReplicaFull, spec: ComponentSpec, run_id: str) -> None:
        """The replica had no room for the run (`Admission`): `TooManyRunsError` once none has (the
        supervisor, told of the run by its caller, then forgets it: it keeps no session busy)."""
        self._full.append(full)
        self.refused.append(name)
        if set(self.router.known()) <= set(self.refused):
            with contextlib.suppress(RayError):
                supervisor().finish.remote([run_id])
            raise TooManyRunsError(
                f"{spec.name or spec.id} has no room for another run: {full.args[0]}",
                min(refused.retry_after for refused in self._full),
            )

    def refused_by(self, name: str) -> float | None:
        """The replica did not take the run (or died under it): seconds to wait before the next try,
        or None once `PLACE_SECONDS` are spent."""
        self.router.lost(name)
        if name not in self.refused:
            self.refused.append(name)
            return 0.0
        # Every replica refused (the fallback, the first replica, was tried again): let the supervisor
        # replace them.
        pause = self._pause
        if time.monotonic() + pause > self._deadline:
            return None
        self.refused.clear()
        self._pause = min(pause * 2, 2.0)
        return pause


async def place(
    router: Router, spec: ComponentSpec, request: RunRequest, new_inbox: Callable[[ActorHandle], Inbox]
) -> PlacedRun:
    """Start the run on a replica that takes it (call on the loop that reads its link).

    Raises what the start raised: `ReplicaUnavailable` once replicas refused it for `PLACE_SECONDS`,
    `TooManyRunsError` once every replica had no room for it (`Admission`),
    `CallRejected` if the actor would not run it, `TimeoutError`.
    """
    await router.first_table()
    placement = Placement(router)
    while True:
        lease = placement.pick()
        link = reader(lease.handle, lease.name, asyncio.get_running_loop())
        placed = PlacedRun(request.run_id, lease, link, new_inbox(lease.handle))
        link.open(request.run_id, placed.inbox)
        try:
            await link.start(spec, request)
            return placed
        except ReplicaFull as full:
            placed.close()
            placement.full(lease.name, full, spec, request.run_id)
        except ReplicaUnavailable:
            placed.close()
            pause = placement.refused_by(lease.name)
            if pause is None:
                raise
            await asyncio.sleep(pause)
        except BaseException:
            placed.close()
            raise
