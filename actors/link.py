"""Links: one long-lived Ray stream per (actor, consuming event loop) that carries every run's frames.

A process that starts runs on an actor opens one link to it (per event loop) and keeps it: the actor's
`open_link` generator yields batches of frames of all the runs this consumer started there, and the
reader here splits them by route into per-run inboxes. So the Ray objects per second are bounded per
link (one batch per outbox interval at most), not multiplied by runs and tokens. A link left idle is
closed; a broken link (the actor died) fails every run on it, each with its own error event.

Both ends watch the other: the consumer sends a heartbeat every `HEARTBEAT_SECONDS`, and the actor a
batch at least as often (empty if it has nothing else). An actor that sends nothing for
`SILENCE_SECONDS` (its process or node hangs) fails the link at the consumer; a consumer not heard for
`LINK_EXPIRY_SECONDS` (its process died or is stopped) has its runs cancelled by the actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import uuid
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayError

from actors.admission import ReplicaFull
from actors.batching import CallRejected, TickBatcher
from kern.engine.inbox import Demux, LinkBroken
from kern.specs import ComponentSpec, RunRequest

START_TIMEOUT_SECONDS = 60.0
"""Longest wait for an actor to take a run (it may be starting: a process start)."""
IDLE_TIMEOUT_SECONDS = 900.0
"""Longest wait for a run's next frames; its model's own timeout normally ends a stalled run long before."""
IDLE_LINK_SECONDS = 60.0
"""A link with no run on it for this long is closed (the next run opens a new one)."""
HEARTBEAT_SECONDS = 2.0
"""How often a consumer tells the actor that its link is still read, and the actor shows it is alive."""
LINK_EXPIRY_SECONDS = 10.0
"""A link not heard from for this long is dropped by its actor, and the runs on it cancelled: its
consumer's process died or stopped (Ray does not stop a streaming call whose caller is gone)."""
SILENCE_SECONDS = 10.0
"""A link whose actor has sent nothing for this long is broken: every run on it ends with an error that
says the actor stopped answering."""

RETIRED = "retired: this replica takes no new runs"
"""A replica's refusal of a run while it is being removed (`ReplicaUnavailable` at the caller)."""
UNKNOWN_LINK = "unknown link: this actor restarted since the link was opened"
"""A replica's refusal of a run on a link it does not have: the link was opened on an earlier life of the
actor (same name and handle), whose stream has not yet been seen to fail here."""

_lock = threading.Lock()
_readers: dict[tuple[str, asyncio.AbstractEventLoop], LinkReader] = {}
_background: asyncio.AbstractEventLoop | None = None


class ReplicaUnavailable(Exception):
    """The replica did not take the run (it is being removed, or it is dead): the run never started
    there, so it may go to another replica of the component."""


class LinkReader:
    """This process's end of the link to one actor, read by a task on one event loop."""

    def __init__(
        self, handle: ActorHandle, loop: asyncio.AbstractEventLoop, key: tuple[str, Any], name: str
    ) -> None:
        self.handle = handle
        self.loop = loop
        self.name = name
        self.link_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.demux = Demux()
        self._key = key
        self._heard = loop.time()
        self._broken: BaseException | None = None
        self._idle_check: asyncio.TimerHandle | None = None
        self._opened = asyncio.Event()
        """Set by the actor's first (empty) batch: starts are sent only once the link is open there, as
        Ray does not keep the order of calls to an async actor."""
        self._stream: Any = handle.open_link.options(num_returns="streaming").remote(self.link_id)
        self._starts: TickBatcher[tuple[ComponentSpec, RunRequest], str | None] = TickBatcher(
            lambda runs: handle.start.remote(self.link_id, runs)
        )
        self._task: asyncio.Task[None] = loop.create_task(self._read(), name=f"kern-link-{self.link_id}")
        self._heartbeat: asyncio.Task[None] = loop.create_task(self._beat(), name=f"kern-beat-{self.link_id}")

    async def start(self, spec: ComponentSpec, request: RunRequest) -> None:
        """Start a run on the actor, its frames on this link (call on the reader's loop). The runs started
        in one tick go as one Ray call. Raises `CallRejected` if the actor would not take it, and
        `ReplicaUnavailable` if it is being removed or is dead, `ReplicaFull` if it has no room for it."""
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                await self._opened.wait()
                if self._task.done():
                    raise ReplicaUnavailable(f"the link to actor {self.name} failed before it opened")
                refusal = await self._starts.submit((spec, request))
        except RayActorError as exc:
            raise ReplicaUnavailable(f"actor {self.name} is gone: {exc}") from exc
        if refusal == RETIRED:
            raise ReplicaUnavailable(f"actor {self.name} is being removed")
        if refusal == UNKNOWN_LINK:
            self._forget()  # the next start opens a new link to the actor's new life
            self._break(LinkBroken(f"actor {self.name} restarted"))
            raise ReplicaUnavailable(f"actor {self.name} restarted")
        if (full := ReplicaFull.of_refusal(refusal)) is not None:
            raise full
        if refusal is not None:
            raise CallRejected(refusal)

    def open(self, route: str, inbox: Any) -> None:
        """Deliver the frames of `route` to `inbox` (call on the reader's loop)."""
        if self._idle_check is not None:
            self._idle_check.cancel()
            self._idle_check = None
        self.demux.open(route, inbox)

    def close(self, route: str) -> None:
        """Stop delivering `route` (call on the reader's loop); an idle link is closed after a while."""
        self.demux.close(route)
        if not self.demux.routes and self._idle_check is None and not self._task.done():
            self._idle_check = self.loop.call_later(IDLE_LINK_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._idle_check = None
        if not self.demux.routes:
            self._forget()
            self._task.cancel()

    async def _beat(self) -> None:
        """Heartbeats out; the actor's answer and its batches in: a link either end gave up on breaks.

        They begin once the link is open at the actor (a starting actor may take its calls in any order, and
        would not know a link whose opening call comes after the heartbeat)."""
        await self._opened.wait()
        answer: Any = None
        while True:
            before = self.loop.time()
            await asyncio.sleep(HEARTBEAT_SECONDS)
            now = self.loop.time()
            if answer is not None and answer.done() and answer.exception() is None and not answer.result():
                self._break(LinkBroken(
                    f"actor {self.name} dropped this link: this process did not read it for "
                    f"{LINK_EXPIRY_SECONDS:.0f} s, and its runs there were cancelled"
                ))  # fmt: skip
                return
            # A late wake-up means this process was busy or stopped, not that the actor was silent.
            if now - self._heard > SILENCE_SECONDS and now - before < HEARTBEAT_SECONDS + 1.0:
                self._break(LinkBroken(
                    f"actor {self.name} sent nothing for {SILENCE_SECONDS:.0f} s: its process or node "
                    "is not responding"
                ))  # fmt: skip
                return
            if not ray.is_initialized():
                # Ray was shut down here: a call now would start or attach a new one (Ray's auto-init),
                # and cancelling the reader's Ray stream would touch a core worker that is gone.
                return
            answer = asyncio.ensure_future(self.handle.keep_link.remote(self.link_id))
            answer.add_done_callback(_ignore_failure)

    def _break(self, error: BaseException) -> None:
        self._broken = error
        self._task.cancel()

    async def _read(self) -> None:
        error: BaseException = LinkBroken(f"the link to actor {self.name} ended")
        try:
            async for ref in self._stream:
                batch = await ref
                self._heard = self.loop.time()
                self._opened.set()
                self.demux.dispatch(batch)
        except asyncio.CancelledError:
            error = self._broken or LinkBroken("the link was closed")
            if ray.is_initialized():
                # Best effort: while Ray shuts down in another thread the stream may have no owner left.
                with contextlib.suppress(TypeError, RayError):
                    ray.cancel(self._stream)
            if self._broken is None:
                raise
        except RayError as exc:
            error = exc
        finally:
            self._heartbeat.cancel()
            self._forget()
            self._opened.set()  # (starts waiting for it see the link is done)
            self.demux.fail_all(error)

    def _forget(self) -> None:
        with _lock:
            if _readers.get(self._key) is self:
                del _readers[self._key]


def reader(handle: ActorHandle, name: str, loop: asyncio.AbstractEventLoop | None = None) -> LinkReader:
    """The link to `handle` (the actor named `name`) read on `loop` (default: the running loop); call on
    that loop's thread."""
    loop = loop or asyncio.get_running_loop()
    key = (handle._actor_id.hex(), loop)
    with _lock:
        found = _readers.get(key)
        if found is None:
            found = _readers[key] = LinkReader(handle, loop, key, name)
        return found


def _ignore_failure(done: asyncio.Future[Any]) -> None:
    """A heartbeat that did not arrive: the actor is gone, which the link itself reports."""
    if not done.cancelled():
        done.exception()


def background_loop() -> asyncio.AbstractEventLoop:
    """The event loop (on a daemon thread) that reads links for synchronous callers of this process."""
    global _background
    with _lock:
        if _background is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kern-links", daemon=True).start()
            _background = loop
        return _background
