"""The caller's side of a run on an actor: decode its frames from the link into events, turn actor loss
into an error event, and cancel the run when the caller walks away."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayError

from actors import link, routing
from actors.batching import CallRejected
from actors.link import IDLE_TIMEOUT_SECONDS, START_TIMEOUT_SECONDS, ReplicaUnavailable
from actors.routing import Router
from actors.runtime import supervisor
from kern.engine.events import failure_event
from kern.engine.frames import FrameDecoder
from kern.engine.inbox import AsyncInbox, LinkBroken, ThreadInbox
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import is_terminal
from kern.specs import ComponentSpec, RunRequest, TeamSpec, run_record

CANCEL_TIMEOUT_SECONDS = 15.0
PLACE_TIMEOUT_SECONDS = START_TIMEOUT_SECONDS * routing.START_ATTEMPTS


_BROKEN = (RayError, LinkBroken, CallRejected, TimeoutError, ReplicaUnavailable)


def stream_run(router: Router, spec: ComponentSpec, request: RunRequest) -> Iterator[BaseRunEvent]:
    """Run on one of the component's replicas and yield its events one by one (blocking; any thread).

    The frames come over this process's link to the replica, read on a background event loop.
    """
    watch = _RunWatch(spec, request)
    supervisor().expect.remote(request.run_id)
    loop = link.background_loop()
    placed: routing.PlacedRun | None = None
    decoder = FrameDecoder()
    try:
        placing = asyncio.run_coroutine_threadsafe(
            routing.place(router, spec, request, lambda: ThreadInbox(request.run_id)), loop
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
            yield watch.lost(exc, placed)
    finally:
        if placed is not None:
            loop.call_soon_threadsafe(placed.close)
            if not watch.ended:
                _walk_away(placed.handle, request.run_id)
    if not watch.ended:
        yield watch.lost(None, placed)


async def astream_run(
    router: Router, spec: ComponentSpec, request: RunRequest
) -> AsyncIterator[BaseRunEvent]:
    """The async twin of `stream_run`: the link is read on the caller's own event loop."""
    watch = _RunWatch(spec, request)
    supervisor().expect.remote(request.run_id)
    placed: routing.PlacedRun | None = None
    decoder = FrameDecoder()
    try:
        placed = await routing.place(router, spec, request, lambda: AsyncInbox(request.run_id))
        assert isinstance(placed.inbox, AsyncInbox)
        async for frames in placed.inbox.batches(IDLE_TIMEOUT_SECONDS):
            for frame in frames:
                event = decoder.decode(frame)
                watch.see(event)
                yield event
    except _BROKEN as exc:
        if not watch.ended:
            yield watch.lost(exc, placed)
    finally:
        if placed is not None:
            placed.close()
            if not watch.ended:
                _walk_away(placed.handle, request.run_id)
    if not watch.ended:
        yield watch.lost(None, placed)


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
    supervisor().expect.remote(request.run_id)
    refused: list[str] = []
    while True:
        lease = router.pick(avoid=refused)
        try:
            return ray.get(lease.handle.run_to_completion.remote(spec, request), timeout=IDLE_TIMEOUT_SECONDS)
        except ReplicaUnavailable:
            if not _try_elsewhere(router, lease, refused):
                raise
        except RayActorError as exc:
            started = ray.get(supervisor().started.remote(request.run_id), timeout=CANCEL_TIMEOUT_SECONDS)
            if not _try_elsewhere(router, lease, refused) or started:
                return _RunWatch(spec, request).lost_record(exc)
        except BaseException:
            cancel_run(request.run_id, wait=False)
            raise
        finally:
            lease.release()


async def arun_to_completion(router: Router, spec: ComponentSpec, request: RunRequest) -> RunOutput:
    """The async twin of `run_to_completion`."""
    supervisor().expect.remote(request.run_id)
    refused: list[str] = []
    while True:
        lease = router.pick(avoid=refused)
        try:
            return await lease.handle.run_to_completion.remote(spec, request)
        except ReplicaUnavailable:
            if not _try_elsewhere(router, lease, refused):
                raise
        except RayActorError as exc:
            started = await asyncio.wait_for(
                supervisor().started.remote(request.run_id), CANCEL_TIMEOUT_SECONDS
            )
            if not _try_elsewhere(router, lease, refused) or started:
                return _RunWatch(spec, request).lost_record(exc)
        except BaseException:
            cancel_run(request.run_id, wait=False)
            raise
        finally:
            lease.release()


def _try_elsewhere(router: Router, lease: routing.Lease, refused: list[str]) -> bool:
    """The replica did not take the run, or died under it: it is not chosen again until the supervisor
    lists it, and the answer says whether another replica may be tried."""
    router.lost(lease.name)
    refused.append(lease.name)
    return len(refused) < routing.START_ATTEMPTS


def cancel_run(run_id: str, *, wait: bool = True) -> bool:
    """Ask the supervisor to cancel a run and its member runs. True if it was in flight."""
    if sys.is_finalizing() or not ray.is_initialized():
        return False  # the process is exiting: its Ray connection (and local cluster) goes with it
    try:
        ref: ray.ObjectRef[bool] = supervisor().cancel.remote(run_id)
        if not wait:
            return False
        return bool(ray.get(ref, timeout=CANCEL_TIMEOUT_SECONDS))
    except RayActorError:
        return bool(ray.get(supervisor(refresh=True).cancel.remote(run_id), timeout=CANCEL_TIMEOUT_SECONDS))


async def acancel_run(run_id: str) -> bool:
    """The async twin of `cancel_run`."""
    try:
        return bool(await supervisor().cancel.remote(run_id))
    except RayActorError:
        return bool(await supervisor(refresh=True).cancel.remote(run_id))


class _RunWatch:
    """Notices the run's own terminal event; makes the stand-in error event if it never comes."""

    def __init__(self, spec: ComponentSpec, request: RunRequest) -> None:
        self.spec = spec
        self.request = request
        self.ended = False

    def see(self, event: BaseRunEvent) -> None:
        if event.run_id == self.request.run_id and is_terminal(event):
            self.ended = True

    def lost_record(self, exc: BaseException) -> RunOutput:
        """The record of a non-streaming run whose actor died."""
        return run_record(self.spec, self.request, status=RunStatus.error, error=self._reason(exc))

    def lost(self, exc: BaseException | None, placed: routing.PlacedRun | None) -> BaseRunEvent:
        """The stand-in terminal event; the replica is not chosen again until the supervisor lists it."""
        self.ended = True
        if placed is not None and isinstance(exc, RayActorError | LinkBroken):
            placed.lease.router.lost(placed.lease.name)
        is_team = isinstance(self.spec, TeamSpec)
        key = "team" if is_team else "agent"
        identity: dict[str, Any] = {
            "run_id": self.request.run_id,
            "session_id": self.request.session_id,
            "user_id": self.request.user_id,
            "parent_run_id": self.request.parent_run_id,
            f"{key}_id": self.spec.id,
            f"{key}_name": self.spec.name,
        }
        return failure_event(is_team, identity, self._reason(exc), "ActorLost")

    def _reason(self, exc: BaseException | None) -> str:
        reason = f"{type(exc).__name__}: {exc}" if exc else "the stream ended without a terminal event"
        return f"Lost the run's actor {self.spec.id!r}: {reason}"
