"""The caller's side of a run on an actor: decode its frames from the link into events, turn actor loss
into an error event, and cancel the run when the caller walks away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import cast

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayError

from actors import link, routing
from actors.admission import ReplicaFull
from actors.batching import CallRejected
from actors.link import IDLE_TIMEOUT_SECONDS, START_TIMEOUT_SECONDS, ReplicaUnavailable
from actors.owners import RunOwner
from actors.routing import Placement, Router
from actors.runtime import aask_supervisor, ask_supervisor, attach_ray, supervisor
from actors.session_gate import INTERRUPT_SECONDS, QUEUE_SECONDS
from kern.continuation import AlreadyContinuing, remember
from kern.db import writer
from kern.engine import inbox
from kern.engine.events import EventFactory, event_after
from kern.engine.frames import FrameDecoder
from kern.engine.inbox import AsyncInbox, LinkBroken, ThreadInbox
from kern.errors import describe
from kern.exceptions import SessionBusyError
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import STARTED_EVENTS, is_terminal
from kern.specs import ComponentSpec, RunRequest, run_identity, run_record

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_SECONDS = 15.0
"""Longest wait for a cancel's answer: the supervisor's restart, then the run's actor (2 s, then 5 s more
if that actor is slow), fit in it."""
PLACE_TIMEOUT_SECONDS = routing.PLACE_SECONDS + START_TIMEOUT_SECONDS


ADMIT_TIMEOUT_SECONDS = QUEUE_SECONDS + INTERRUPT_SECONDS + 30.0
"""Longest wait for a busy session's admission: a queued run's turn (bounded by the supervisor) and then
some."""

_BROKEN = (RayError, LinkBroken, CallRejected, TimeoutError, ReplicaUnavailable)


def stream_run(router: Router, spec: ComponentSpec, request: RunRequest) -> Iterator[BaseRunEvent]:
    """Run on one of the component's replicas and yield its events one by one (blocking; any thread).

    The frames come over this process's link to the replica, read on a background event loop.
    """
    watch = _RunWatch(spec, request)
    _expect(spec, request)
    loop = link.background_loop()
    placed: routing.PlacedRun | None = None
    decoder = FrameDecoder()
    try:
        placing = asyncio.run_coroutine_threadsafe(
            routing.place(
                router,
                spec,
                request,
                lambda handle: ThreadInbox(request.run_id, _overflow(handle, request.run_id)),
            ),
            loop,
        )
        try:
            placed = placing.result(timeout=PLACE_TIMEOUT_SECONDS)
        except BaseException:
            placing.cancel()
            raise
        assert isinstance(placed.inbox, ThreadInbox)
        for frames in placed.inbox.batches(IDLE_TIMEOUT_SECONDS):
            for frame in frames:
                event = decoder.decode(frame)
                watch.see(event)
                yield event
    except _BROKEN as exc:
        if not watch.ended:
            yield from watch.lost(exc, placed)
    finally:
        if placed is not None:
            loop.call_soon_threadsafe(placed.close)
            if not watch.ended:
                _walk_away(placed.handle, request.run_id)
    if not watch.ended:
        yield from watch.lost(None, placed)


async def astream_run(
    router: Router, spec: ComponentSpec, request: RunRequest
) -> AsyncIterator[BaseRunEvent]:
    """The async twin of `stream_run`: the link is read on the caller's own event loop."""
    watch = _RunWatch(spec, request)
    await _aexpect(spec, request)
    placed: routing.PlacedRun | None = None
    decoder = FrameDecoder()
    try:
        placed = await routing.place(
            router,
            spec,
            request,
            lambda handle: AsyncInbox(request.run_id, _overflow(handle, request.run_id)),
        )
        assert isinstance(placed.inbox, AsyncInbox)
        async for frames in placed.inbox.batches(IDLE_TIMEOUT_SECONDS):
            for frame in frames:
                event = decoder.decode(frame)
                watch.see(event)
                yield event
    except _BROKEN as exc:
        if not watch.ended:
            for event in watch.lost(exc, placed):
                yield event
    finally:
        if placed is not None:
            placed.close()
            if not watch.ended:
                _walk_away(placed.handle, request.run_id)
    if not watch.ended:
        for event in watch.lost(None, placed):
            yield event


def _overflow(handle: ActorHandle, run_id: str) -> Callable[[], None]:
    """What happens when the caller stops reading a run: it is cancelled, so what waits for the caller
    stays bounded (the caller still reads everything, up to its RunCancelled)."""

    def cancel() -> None:
        log.warning(
            "kern: run %s cancelled: its caller left %d events unread", run_id, inbox.MAX_UNREAD_FRAMES
        )
        _walk_away(handle, run_id)

    return cancel


def _walk_away(handle: ActorHandle, run_id: str) -> None:
    """The caller left before the run ended: tell the run's actor directly (one hop, no supervisor)."""
    if sys.is_finalizing() or not ray.is_initialized():
        return
    try:
        handle.cancel_local.remote(run_id)
    except RayError:
        pass  # the actor is gone, and its run with it


def run_to_completion(router: Router, spec: ComponentSpec, request: RunRequest) -> RunOutput:
    """Run on one of the component's replicas and return the record; an interrupted caller cancels it."""
    _expect(spec, request)
    placement = Placement(router)
    while True:
        lease = placement.pick()
        try:
            output = cast(
                RunOutput,
                ray.get(lease.handle.run_to_completion.remote(spec, request), timeout=IDLE_TIMEOUT_SECONDS),
            )
            remember(output)
            return output
        except ReplicaFull as full:
            placement.full(lease.name, full, spec, request.run_id)
        except (ReplicaUnavailable, RayActorError) as exc:
            pause = placement.refused_by(lease.name)
            started = _started(request.run_id, exc)
            if pause is None or started:
                return _RunWatch(spec, request).lost_record(exc, started=started)
            time.sleep(pause)
        except BaseException:
            cancel_run(request.run_id, wait=False)
            raise
        finally:
            lease.release()


async def arun_to_completion(router: Router, spec: ComponentSpec, request: RunRequest) -> RunOutput:
    """The async twin of `run_to_completion`."""
    await _aexpect(spec, request)
    placement = Placement(router)
    while True:
        lease = placement.pick()
        try:
            output: RunOutput = await asyncio.wait_for(
                lease.handle.run_to_completion.remote(spec, request), IDLE_TIMEOUT_SECONDS
            )
            remember(output)
            return output
        except ReplicaFull as full:
            placement.full(lease.name, full, spec, request.run_id)
        except (ReplicaUnavailable, RayActorError) as exc:
            pause = placement.refused_by(lease.name)
            started = await asyncio.to_thread(_started, request.run_id, exc)
            if pause is None or started:
                return _RunWatch(spec, request).lost_record(exc, started=started)
            await asyncio.sleep(pause)
        except BaseException:
            cancel_run(request.run_id, wait=False)
            raise
        finally:
            lease.release()


def _expect(spec: ComponentSpec, request: RunRequest) -> None:
    """Tell the supervisor a run is about to start (a paused one's continue has claimed it already): at
    once under the `concurrent` busy-session policy; under another, once it is admitted, which may wait
    its turn or refuse it (`SessionBusyError`)."""
    admission = _admission(spec, request)
    if admission is not None:
        blocking = ask_supervisor("admit", request.run_id, *admission, wait_seconds=ADMIT_TIMEOUT_SECONDS)
        _refuse_if_blocked(request, admission[1], blocking)


async def _aexpect(spec: ComponentSpec, request: RunRequest) -> None:
    """The async twin of `_expect`."""
    admission = _admission(spec, request)
    if admission is not None:
        blocking = await aask_supervisor(
            "admit", request.run_id, *admission, wait_seconds=ADMIT_TIMEOUT_SECONDS
        )
        _refuse_if_blocked(request, admission[1], blocking)


def _admission(spec: ComponentSpec, request: RunRequest) -> tuple[RunOwner, str] | None:
    """The run's owner and busy-session policy when it must be admitted; None when the supervisor has
    been told already (a `concurrent` run: fire and forget) or need not be (a continue)."""
    if request.resume is not None:
        return None
    owner, policy = RunOwner.of(spec, request), request.busy_session or spec.busy_session
    if policy == "concurrent":
        supervisor().expect.remote(request.run_id, owner)
        return None
    return owner, policy


def _refuse_if_blocked(request: RunRequest, policy: str, blocking: list[str]) -> None:
    if blocking:
        raise SessionBusyError(
            f"session {request.session_id!r} has a run in flight: {', '.join(blocking)} "
            f"(busy_session={policy!r})",
            blocking,
        )


def claim_resume(spec: ComponentSpec, request: RunRequest) -> None:
    """Claim a paused run for this continue; `AlreadyContinuing` if another one has it."""
    if not ask_supervisor("claim_resume", request.run_id, RunOwner.of(spec, request)):
        raise AlreadyContinuing(f"Run {request.run_id!r} is being continued already")


async def aclaim_resume(spec: ComponentSpec, request: RunRequest) -> None:
    """The async twin of `claim_resume`."""
    if not await aask_supervisor("claim_resume", request.run_id, RunOwner.of(spec, request)):
        raise AlreadyContinuing(f"Run {request.run_id!r} is being continued already")


async def start_background(router: Router, spec: ComponentSpec, request: RunRequest) -> None:
    """Start a run that goes on in its actor without this caller (`arun(..., background=True)`): returns
    once a replica has started it; the run's record (its db) tells the outcome."""
    await _aexpect(spec, request)
    placement = Placement(router)
    while True:
        lease = placement.pick()
        try:
            await asyncio.wait_for(lease.handle.start_background.remote(spec, request), START_TIMEOUT_SECONDS)
            return
        except ReplicaFull as full:
            placement.full(lease.name, full, spec, request.run_id)
        except (ReplicaUnavailable, RayActorError):
            pause = placement.refused_by(lease.name)
            if pause is None:
                raise
            await asyncio.sleep(pause)
        finally:
            lease.release()


async def follow_run(run_id: str, start: int = 0) -> AsyncIterator[BaseRunEvent]:
    """Rejoin a run's stream: its events from the `start`-th (0-based, member events counted), then live
    until its terminal event; nothing if its actor no longer has it (it ended more than
    `kern.engine.replay.KEPT_SECONDS` ago, or the actor is gone). Leaving does not cancel the run."""
    if not ray.is_initialized() and not await asyncio.to_thread(attach_ray):
        return  # (no cluster: no run to follow)
    handle = await aask_supervisor("stream_of", run_id)
    if handle is None:
        return
    decoder, index = FrameDecoder(), 0
    stream = handle.follow.options(num_returns="streaming").remote(run_id)
    try:
        while True:
            try:
                ref = await asyncio.wait_for(stream.__anext__(), IDLE_TIMEOUT_SECONDS)
            except StopAsyncIteration:
                return
            for frame in await asyncio.wait_for(ref, IDLE_TIMEOUT_SECONDS):
                event = decoder.decode(frame)  # (every frame: content frames need their run's start)
                if index >= start:
                    yield event
                index += 1
    except RayActorError:
        return  # (its actor died: what it had is gone with it)
    finally:
        with contextlib.suppress(RayError, TypeError):  # (the stream may be over, or Ray shutting down)
            ray.cancel(stream)


def live_record(run_id: str) -> RunOutput | None:
    """`snapshot` from any thread (blocking, bounded)."""
    return cast("RunOutput | None", ask_supervisor("snapshot", run_id))


async def snapshot(run_id: str) -> RunOutput | None:
    """A run in flight as its actor has it now (RUNNING, its partial answer); None if it is not live."""
    return cast("RunOutput | None", await aask_supervisor("snapshot", run_id))


def _started(run_id: str, exc: BaseException) -> bool:
    """Whether the run had started on the replica that failed it: then it must not run again elsewhere."""
    if isinstance(exc, ReplicaUnavailable):
        return False
    try:
        return bool(ask_supervisor("started", run_id))
    except Exception:
        return True  # unknown: never run it twice


def cancel_run(run_id: str, *, wait: bool = True) -> bool:
    """Ask the supervisor to cancel a run and its member runs, from any process (it connects to the
    running Ray cluster if it must). True only if the run will end cancelled."""
    if sys.is_finalizing() or not attach_ray():
        return False  # the process is exiting, or there is no cluster, so no run to cancel
    if not wait:
        supervisor().cancel.remote(run_id)
        return False
    return bool(ask_supervisor("cancel", run_id, wait_seconds=CANCEL_TIMEOUT_SECONDS))


async def acancel_run(run_id: str, claim: RunOwner | None = None) -> bool | None:
    """The async twin of `cancel_run`; with a `claim`, None (and nothing cancelled) if the run is known to
    be another agent's, team's, session's or user's."""
    if not ray.is_initialized() and not await asyncio.to_thread(attach_ray):
        return False
    answer = await aask_supervisor("cancel", run_id, claim, wait_seconds=CANCEL_TIMEOUT_SECONDS)
    return None if answer is None else bool(answer)


class _RunWatch:
    """Notices the terminal events of the run and of every run in its stream; makes stand-ins for those
    that will never come (the run's actor died or stopped answering)."""

    def __init__(self, spec: ComponentSpec, request: RunRequest) -> None:
        self.spec = spec
        self.request = request
        self.ended = False
        self._open: dict[str, BaseRunEvent] = {}
        """The started event of each member run in the stream that has not ended."""

    def see(self, event: BaseRunEvent) -> None:
        if is_terminal(event):
            self._open.pop(event.run_id, None)
            self.ended = self.ended or event.run_id == self.request.run_id
            if event.is_paused and isinstance(event.run_output, RunOutput):
                remember(event.run_output)
        elif event.run_id != self.request.run_id and event.event in STARTED_EVENTS:
            self._open[event.run_id] = event

    def lost_record(self, exc: BaseException, *, started: bool) -> RunOutput:
        """The record of a non-streaming run whose actor died (stored, if the run had started)."""
        record = run_record(self.spec, self.request, status=RunStatus.error, error=self._reason(exc))
        if started:
            self._store(record)
        return record

    def lost(self, exc: BaseException | None, placed: routing.PlacedRun | None) -> list[BaseRunEvent]:
        """Stand-in error events: for the member runs under way, innermost first, then for the run. The
        replica is not chosen again until the supervisor lists it; a run that had started is stored as
        failed, since its actor can no longer say how it ended."""
        self.ended = True
        reason = self._reason(exc)
        if placed is not None:
            self._store(run_record(self.spec, self.request, status=RunStatus.error, error=reason))
            if isinstance(exc, RayActorError | LinkBroken):
                placed.lease.router.lost(placed.lease.name)
        members = [
            event_after(started, "error", content=reason, error_type="ActorLost")
            for started in reversed(self._open.values())
        ]
        self._open.clear()
        events = EventFactory(self.spec.kind == "team", run_identity(self.spec, self.request))
        own = events.make("error", content=reason, error_type="ActorLost")
        return [*members, own]

    def _store(self, record: RunOutput) -> None:
        """Queue the record with this process's writer (kern.db.writer), which retries it if it must."""
        if self.spec.db is not None:
            writer.enqueue(self.spec.db, record)

    def _reason(self, exc: BaseException | None) -> str:
        reason = describe(exc) if exc else "the stream ended without a terminal event"
        return f"Lost the run's actor {self.spec.id!r}: {reason}"
