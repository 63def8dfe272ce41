"""`AgentActor` and `TeamActor`: long-lived async actors, each run an asyncio task, its frames on a link.

Each run brings its own spec (model, tools, members), so two callers with different settings for the
same agent id never overwrite each other, and any process can use an actor it finds by name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors.admission import Entry, ReplicaFull, Turns
from actors.batching import TickBatcher
from actors.link import (
    HEARTBEAT_SECONDS,
    LINK_EXPIRY_SECONDS,
    RETIRED,
    UNKNOWN_LINK,
    ReplicaUnavailable,
)
from actors.members import ActorMembers
from actors.owners import RunInFlight, RunOwner
from actors.pools import ReplicaLoad
from actors.runtime import aask_supervisor, use_namespace
from kern.admission import Admission
from kern.db import writer
from kern.engine.frames import Batch, Frame
from kern.engine.host import RunHost
from kern.engine.outbox import DiscardingOutbox, Outbox
from kern.engine.replay import LoggedOutbox, StreamLogs
from kern.engine.run import QueueTimeout, Turn
from kern.run.agent import RunOutput
from kern.specs import AgentSpec, RunRequest, TeamSpec
from kern.tools import threads

LINK_INTERVAL_SECONDS = 0.02
"""At most one Ray object per link every 20 ms: under load a batch carries the frames of every run on the
link, a frame that comes later than that after the previous batch waits for nothing, and a run's first
and terminal frames never wait. Measured at 200 concurrent team runs (benchmarks/concurrency.py, 2 cores):
12.3 CPU-s at 20 ms against 14.2 at 5 ms, worst-gap p99 343 ms against 508."""
REGISTER_TIMEOUT_SECONDS = 5.0
"""Longest wait for the supervisor to take note of a run before it starts anyway (the supervisor is
restarting: it relearns the run from this replica when it is back)."""
PARK_SECONDS = 300.0
"""How long the stream of a link whose consumer stopped answering is kept open after its runs were
cancelled. Ending a Ray stream waits, on this actor's event loop, for the consumer to acknowledge every
batch: with a stopped consumer that froze every run here for about 30 s. A consumer that comes back
finds its link dropped and closes it itself; one that died releases it at once."""
ENDED_REMEMBERED = 10_000
"""Runs a replica remembers having ended, for a restarted supervisor."""
GIL_SWITCH_SECONDS = 0.001
"""The actors' GIL switch interval (Python's default is 5 ms). A cancel crosses threads several times in
each actor (Ray's receiving thread, the control thread, the event loop); at 200 concurrent team runs each
handoff waited up to 5 ms for a busy event loop to let go of the GIL: cancel p99 143-210 ms at 5 ms,
90-157 ms at 1 ms (benchmarks/concurrency.py, 2 cores)."""
LAG_PROBE_SECONDS = 0.05
"""How often the event loop's lateness is sampled while runs are in flight (reported with the load); an
idle replica samples once a second."""


class _ComponentActor:
    """One replica of an agent or team: hosts runs, many at once on its event loop."""

    def __init__(self, namespace: str, options_key: str) -> None:
        import kern.models.openai.sse  # noqa: F401  (the SDK: imported here, not on the first run's clock)

        self._node_id = ray.get_runtime_context().get_node_id()
        use_namespace(namespace, self._node_id)
        self._options_key = options_key
        self._idle_since = time.monotonic()
        self._host = RunHost()
        self._turns = Turns()
        """Caller runs in flight and waiting here, under their `Admission` (member runs are let in)."""
        self._streams = StreamLogs()
        self._self: ActorHandle = ray.get_runtime_context().current_actor
        self._links: dict[str, _Link] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._retiring = False
        self._recently_ended: deque[str] = deque(maxlen=ENDED_REMEMBERED)
        self._lag_ms = 0.0
        self._cpu_since = (time.monotonic(), time.process_time())
        self._lag_probe: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Runs start and end in bursts: their supervisor messages go one call per tick (actors.batching).
        # Both go to whichever supervisor is alive: a restarting one is waited for, a killed one made anew.
        self._registrations: TickBatcher[tuple[str, str | None], bool] = TickBatcher(
            lambda runs: aask_supervisor("register", self._self, runs, wait_seconds=REGISTER_TIMEOUT_SECONDS)
        )
        self._finishes: TickBatcher[str, None] = TickBatcher(
            lambda ids: aask_supervisor("finish", ids, wait_seconds=REGISTER_TIMEOUT_SECONDS)
        )
        # The imports (Ray, the SDK, pydantic: ~150k objects) never die; frozen, a full collection no
        # longer walks them (~50 ms each time otherwise, a pause every stream and cancel on this actor sees).
        gc.freeze()
        # The control calls (cancel_local) run on a thread of their own, and Ray hands calls in on its own
        # threads: each handoff waits for the GIL, up to the switch interval while the event loop is busy.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)

    async def open_link(self, link_id: str) -> AsyncIterator[Batch]:
        """The link to one consumer: batches of frames of every run it starts here with `start`.

        When the consumer goes away (it closes the link, or its process dies or stops), its runs are
        cancelled.
        """
        if self._retiring:
            return
        self._loop = asyncio.get_running_loop()
        link = self._link(link_id)
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._watch_links())
        try:
            yield {}  # the link is open here: the consumer starts runs on it only after this
            async for batch in link.outbox.batches():
                yield batch
            if time.monotonic() - link.heard > 2 * HEARTBEAT_SECONDS:
                await asyncio.sleep(PARK_SECONDS)  # see PARK_SECONDS: never end a stream nobody reads
        finally:
            if self._links.get(link_id) is link:
                del self._links[link_id]
            self._cancel_runs(link)

    async def start(
        self, link_id: str, runs: list[tuple[AgentSpec | TeamSpec, RunRequest]]
    ) -> list[str | None]:
        """Start runs whose frames go to the consumer's link (all it started in one tick, in one call);
        returns once they are under way (or queued for their turn): for each, None or why it could not
        start."""
        if self._retiring:
            return [RETIRED] * len(runs)
        if link_id not in self._links:  # opened on an earlier life of this actor (it restarted)
            return [UNKNOWN_LINK] * len(runs)
        self._loop = asyncio.get_running_loop()
        admitted = await self._admit(runs)
        link = self._links.get(link_id)
        if link is None:  # (dropped while the node's turns were asked for)
            return [UNKNOWN_LINK] * len(runs)
        link.heard = time.monotonic()
        refusals: list[str | None] = []
        for (spec, request), (full, turn) in zip(runs, admitted, strict=True):
            if full is not None:
                refusals.append(full.refusal())
                continue
            try:
                task = self._start(spec, request, link.outbox, turn=turn)
            except Exception as exc:
                self._turns.leave(request.run_id)
                refusals.append(f"{type(exc).__name__}: {exc}")
                continue
            link.runs.add(request.run_id)
            task.add_done_callback(functools.partial(_discard, link.runs, request.run_id))
            refusals.append(None)
        return refusals

    async def _admit(
        self, runs: list[tuple[AgentSpec | TeamSpec, RunRequest]]
    ) -> list[tuple[ReplicaFull | None, Turn | None]]:
        """Each run's place under its component's `Admission` (a member's run is let in with its team's
        run): why there is no room for it, or None and what it waits for before its first event."""
        entries: dict[str, Entry] = {
            request.run_id: self._turns.enter(
                request.run_id, spec.admission.max_runs, spec.admission.max_queued
            )
            for spec, request in runs
            if request.parent_run_id is None
        }
        per_node = [
            (request.run_id, spec.admission.max_runs_per_node, spec.admission.max_queued)
            for spec, request in runs
            if spec.admission.max_runs_per_node and entries.get(request.run_id) in ("go", "wait")
        ]
        node_entries = dict(zip((run[0] for run in per_node), await self._enter_node(per_node), strict=True))
        admitted: list[tuple[ReplicaFull | None, Turn | None]] = []
        for spec, request in runs:
            entry, limits = entries.get(request.run_id), spec.admission
            node_entry = node_entries.get(request.run_id, "go")
            if entry == "full":
                budget = f"max_runs={limits.max_runs}, max_queued={limits.max_queued}"
                admitted.append((self._turns.full(limits.max_runs, "this replica", budget), None))
            elif isinstance(node_entry, ReplicaFull):
                self._turns.leave(request.run_id)
                admitted.append((node_entry, None))
            elif entry in (None, "go") and node_entry == "go":
                admitted.append((None, None))
            else:
                wait = functools.partial(self._wait_turn, request.run_id, limits, entry, node_entry)
                admitted.append((None, wait))
        return admitted

    async def _enter_node(self, runs: list[tuple[str, int, int]]) -> list[Entry | ReplicaFull]:
        """The node's answer for runs under a per-node limit ("go", "wait", or why there is no room); "go"
        for each when the supervisor does not answer in time (a restarting supervisor lets runs in)."""
        if not runs:
            return []
        try:
            answers = await aask_supervisor(
                "node_enter",
                self._node_id,
                self._self._actor_id.hex(),
                runs,
                wait_seconds=REGISTER_TIMEOUT_SECONDS,
            )
            return cast(list[Entry | ReplicaFull], answers)
        except (RayActorError, TimeoutError):
            return ["go"] * len(runs)

    async def _wait_turn(
        self, run_id: str, limits: Admission, entry: Entry | None, node_entry: Entry
    ) -> None:
        """Wait for the run's turn on this replica, then on its node: `QueueTimeout` past `queue_seconds`."""
        deadline = time.monotonic() + limits.queue_seconds
        if entry == "wait" and not await self._turns.wait(run_id, limits.queue_seconds):
            raise QueueTimeout(
                f"The run waited {limits.queue_seconds:g} s for a turn on a replica with "
                f"{self._turns.running} runs in flight (max_runs={limits.max_runs}) and never started"
            )
        if node_entry == "wait":
            left = max(deadline - time.monotonic(), 0.0)
            try:
                turn = await aask_supervisor("node_turn", self._node_id, run_id, left, wait_seconds=left + 5)
            except (RayActorError, TimeoutError):
                turn = True  # (a restarting supervisor lets runs in)
            if not turn:
                raise QueueTimeout(
                    f"The run waited {limits.queue_seconds:g} s for a turn on its node "
                    f"(max_runs_per_node={limits.max_runs_per_node}) and never started"
                )

    def keep_link(self, link_id: str) -> bool:
        """A consumer's heartbeat: its link is still read. False if the link was dropped (the consumer
        was silent too long, and its runs here were cancelled)."""
        link = self._links.get(link_id)
        if link is not None:
            link.heard = time.monotonic()
        return link is not None

    async def _watch_links(self) -> None:
        """Show every consumer that this actor is alive, and drop the links of consumers gone silent
        (their process died or stopped): their runs are cancelled at once."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            silent_since = time.monotonic() - LINK_EXPIRY_SECONDS
            for link_id, link in list(self._links.items()):
                if link.heard < silent_since:
                    del self._links[link_id]
                    self._cancel_runs(link)
                    link.outbox.close()
                else:
                    link.outbox.ping()

    def _cancel_runs(self, link: _Link) -> None:
        for run_id in list(link.runs):
            self._host.cancel(run_id)

    async def run_to_completion(self, spec: AgentSpec | TeamSpec, request: RunRequest) -> RunOutput:
        """Execute one run and return its record (for non-streaming callers)."""
        if self._retiring:
            raise ReplicaUnavailable(RETIRED)
        self._loop = asyncio.get_running_loop()
        turn = await self._admitted(spec, request)
        task = self._start(spec, request, DiscardingOutbox(), turn=turn)
        try:
            return await asyncio.shield(task)
        finally:
            self._host.cancel(request.run_id)

    async def start_background(self, spec: AgentSpec | TeamSpec, request: RunRequest) -> None:
        """Start a run that no caller waits for: it goes on here, without a link, until it ends; its
        record tells the outcome (and `snapshot` its progress meanwhile)."""
        if self._retiring:
            raise ReplicaUnavailable(RETIRED)
        self._loop = asyncio.get_running_loop()
        turn = await self._admitted(spec, request)
        registered = asyncio.Event()
        task = self._start(spec, request, DiscardingOutbox(), registered, turn)
        # Answered once the supervisor knows the run: from then on its progress can be asked for.
        waiting = asyncio.ensure_future(registered.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()

    async def _admitted(self, spec: AgentSpec | TeamSpec, request: RunRequest) -> Turn | None:
        """`_admit` for one run started by a call of its own: raises `ReplicaFull` if it has no room."""
        [(full, turn)] = await self._admit([(spec, request)])
        if full is not None:
            raise full
        return turn

    async def follow(self, run_id: str) -> AsyncIterator[list[Frame]]:
        """A caller's run's stream from its first frame, then live until its terminal frame (nothing if
        the run is not here, or ended too long ago): how a caller rejoins a stream."""
        log = self._streams.get(run_id)
        if log is None:
            return
        async for frames in log.follow():
            yield frames

    def snapshot(self, run_id: str) -> RunOutput | None:
        """A run in flight here as it stands (RUNNING, with its partial answer); None if it is not here."""
        return self._host.snapshot(run_id)

    @ray.method(concurrency_group="control")
    async def cancel_local(self, run_id: str) -> bool:
        """The supervisor's cancel message: cancel this actor's run. True if it was in flight.

        It comes in on the control thread (its own event loop), not behind the runs' calls and streams:
        on a busy actor Ray took 100-230 ms to bring a call onto the runs' event loop, against one turn
        of that loop from here. The cancel itself is done on the runs' loop, which owns them."""
        loop = self._loop
        if loop is None:  # no run was ever started here
            return False
        answer: concurrent.futures.Future[bool] = concurrent.futures.Future()

        def cancel() -> None:
            try:
                answer.set_result(self._host.cancel(run_id))
            except BaseException as exc:
                answer.set_exception(exc)

        loop.call_soon_threadsafe(cancel)
        return await asyncio.wrap_future(answer)

    async def load(self) -> ReplicaLoad:
        """The supervisor's poll: runs in flight, the longest event-loop lateness (ms) and the cores used
        since the last poll, the node, what is stuck (sync tool threads abandoned by cancelled runs, run
        records waiting for the database, records lost), then what it was created with, its process and
        how long it has been idle. A replica being removed closes its links once its last run has ended."""
        if self._lag_probe is None:
            self._lag_probe = asyncio.create_task(self._probe_lag())
        lag, self._lag_ms = self._lag_ms, 0.0
        (wall, cpu), self._cpu_since = self._cpu_since, (time.monotonic(), time.process_time())
        cores = (self._cpu_since[1] - cpu) / max(self._cpu_since[0] - wall, 1e-3)
        runs = len(self._host.run_ids())
        if self._retiring and not runs:
            for link in self._links.values():
                link.outbox.close()
        now = time.monotonic()
        if runs:
            self._idle_since = now
        return ReplicaLoad(
            runs, lag, cores, self._node_id, _stuck_tools(), writer.pending(), writer.unsaved(),
            self._options_key, os.getpid(), _resident_bytes(), now - self._idle_since,
        )  # fmt: skip

    def retire(self) -> None:
        """The supervisor is removing this replica: it refuses new runs; the runs in flight go on."""
        self._retiring = True

    async def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            interval = LAG_PROBE_SECONDS if self._host.run_ids() else 1.0
            before = loop.time()
            await asyncio.sleep(interval)
            late = (loop.time() - before - interval) * 1000
            self._lag_ms = max(self._lag_ms, late)

    def _ended(self, run_id: str, _: object) -> None:
        """A run ended: the supervisor hears it, and so does a restarted one, from `ended`."""
        self._recently_ended.append(run_id)
        self._turns.leave(run_id)
        self._idle_since = time.monotonic()
        self._finishes.post(run_id)

    def ended(self) -> list[str]:
        """Ids of the runs that ended here lately: a restarted supervisor knows not to start them again."""
        return list(self._recently_ended)

    def running(self) -> list[str]:
        """Ids of the runs in flight here."""
        return self._host.run_ids()

    def runs(self) -> list[RunInFlight]:
        """The runs in flight here, for a restarted supervisor to relearn (their owners, and the node slots
        of those under a per-node limit, too)."""
        return [
            RunInFlight(
                request.run_id,
                request.parent_run_id,
                RunOwner.of(spec, request) if request.parent_run_id is None else None,
                self._node_id if request.parent_run_id is None and spec.admission.max_runs_per_node else None,
            )
            for spec, request in self._host.in_flight()
        ]

    def links(self) -> dict[str, list[str]]:
        """Open links: link id (it starts with the consumer's pid) -> ids of its runs in flight."""
        return {link_id: sorted(link.runs) for link_id, link in self._links.items()}

    def _link(self, link_id: str) -> _Link:
        link = self._links.get(link_id)
        if link is None:
            link = self._links[link_id] = _Link(Outbox(LINK_INTERVAL_SECONDS))
        return link

    def _start(
        self,
        spec: AgentSpec | TeamSpec,
        request: RunRequest,
        outbox: Outbox,
        on_registered: asyncio.Event | None = None,
        turn: Turn | None = None,
    ) -> asyncio.Task[RunOutput]:
        async def registered() -> bool:
            try:
                return await self._registrations.submit((request.run_id, request.parent_run_id))
            except (RayActorError, TimeoutError):
                # No supervisor answered in time: the run goes on (its caller can still cancel it
                # directly), and the supervisor, once back, relearns it from `runs`.
                return True
            finally:
                if on_registered is not None:
                    on_registered.set()

        gate, queued = registered, turn
        if turn is not None:  # a queued run is registered before its turn: it can be cancelled meanwhile
            answers: list[bool] = []

            async def gate() -> bool:
                if not answers:
                    answers.append(await registered())
                return answers[0]

            async def queued() -> None:
                if not await gate():
                    raise asyncio.CancelledError  # (cancelled before its turn came)
                await turn()

        members = ActorMembers(spec) if isinstance(spec, TeamSpec) else None
        if request.parent_run_id is None:  # (a caller's run: its stream can be rejoined, `follow`)
            log = self._streams.open(request.run_id)
            outbox = LoggedOutbox(outbox, log)
        task = self._host.start(spec, request, outbox, members=members, gate=gate, turn=queued)
        task.add_done_callback(functools.partial(self._ended, request.run_id))
        if request.parent_run_id is None:
            task.add_done_callback(lambda _: self._streams.close(log))
        return task


def _resident_bytes() -> int:
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _stuck_tools() -> int:
    try:
        return threads.status().abandoned
    except ValueError:  # KERN_TOOL_THREADS is invalid: each sync tool call says so
        return 0


def _discard(runs: set[str], run_id: str, _: object) -> None:
    runs.discard(run_id)


@dataclass
class _Link:
    outbox: Outbox
    runs: set[str] = field(default_factory=set)
    """Runs started over this link and still going: cancelled if the consumer goes away."""
    heard: float = field(default_factory=time.monotonic)
    """When the consumer last showed it is alive (opened the link, started a run, sent a heartbeat)."""


@ray.remote(concurrency_groups={"control": 8})  # type: ignore[call-overload]  # (not in Ray's stubs)
class AgentActor(_ComponentActor):
    """A replica of an agent."""


@ray.remote(concurrency_groups={"control": 8})  # type: ignore[call-overload]  # (not in Ray's stubs)
class TeamActor(_ComponentActor):
    """A replica of a team: hosts the leader's runs; members run on their own replicas."""
