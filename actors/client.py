"""The caller's side of a run on an actor: decode its frames from the link into events, turn actor loss
into an error event, and cancel the run when the caller walks away."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayError

from actors import link
from actors.batching import CallRejected
from actors.link import IDLE_TIMEOUT_SECONDS, START_TIMEOUT_SECONDS
from actors.runtime import supervisor
from kern.engine.events import failure_event
from kern.engine.frames import FrameDecoder
from kern.engine.inbox import LinkBroken, ThreadInbox
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import is_terminal
from kern.specs import ComponentSpec, RunRequest, TeamSpec, run_record

CANCEL_TIMEOUT_SECONDS = 15.0


OnLost = Callable[[], None]
"""Told when the run's actor is lost, so the caller stops using that handle."""

_BROKEN = (RayError, LinkBroken, CallRejected, TimeoutError)


def stream_run(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> Iterator[BaseRunEvent]:
    """Run on the actor and yield its events one by one (blocking; usable from any thread).

    The frames come over this process's link to the actor, read on a background event loop.
    """
    watch = _RunWatch(spec, request, on_lost)
    supervisor().expect.remote(request.run_id)
    loop = link.background_loop()
    inbox = ThreadInbox(request.run_id)

    async def open_route() -> link.LinkReader:
        reader = link.reader(handle)
        reader.open(request.run_id, inbox)
        return reader

    reader = asyncio.run_coroutine_threadsafe(open_route(), loop).result(timeout=START_TIMEOUT_SECONDS)
    decoder = FrameDecoder()
    try:
        started = asyncio.run_coroutine_threadsafe(reader.start(spec, request), loop)
        started.result(timeout=START_TIMEOUT_SECONDS)
        for frames in inbox.batches(IDLE_TIMEOUT_SECONDS):
            for frame in frames:
                event = decoder.decode(frame)
                watch.see(event)
                yield event
    except _BROKEN as exc:
        if not watch.ended:
            yield watch.lost(exc)
    finally:
        loop.call_soon_threadsafe(reader.close, request.run_id)
        if not watch.ended:
            _walk_away(handle, request.run_id)
    if not watch.ended:
        yield watch.lost(None)


async def astream_run(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> AsyncIterator[BaseRunEvent]:
    """The async twin of `stream_run`: the link is read on the caller's own event loop."""
    watch = _RunWatch(spec, request, on_lost)
    supervisor().expect.remote(request.run_id)
    decoder = FrameDecoder()
    try:
        async for frames in link.run_frames(handle, spec, request):
            for frame in frames:
                event = decoder.decode(frame)
                watch.see(event)
                yield event
    except _BROKEN as exc:
        if not watch.ended:
            yield watch.lost(exc)
    finally:
        if not watch.ended:
            _walk_away(handle, request.run_id)
    if not watch.ended:
        yield watch.lost(None)


def _walk_away(handle: ActorHandle, run_id: str) -> None:
    """The caller left before the run ended: tell the run's actor directly (one hop, no supervisor)."""
    if sys.is_finalizing() or not ray.is_initialized():
        return
    try:
        handle.cancel_local.remote(run_id)
    except RayError:
        pass  # the actor is gone, and its run with it


def run_to_completion(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> RunOutput:
    """Run on the actor and return the record; an interrupted caller cancels the run."""
    supervisor().expect.remote(request.run_id)
    ref = handle.run_to_completion.remote(spec, request)
    try:
        return ray.get(ref, timeout=IDLE_TIMEOUT_SECONDS)
    except RayActorError as exc:
        return _RunWatch(spec, request, on_lost).lost_record(exc)
    except BaseException:
        cancel_run(request.run_id, wait=False)
        raise


async def arun_to_completion(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> RunOutput:
    """The async twin of `run_to_completion`."""
    supervisor().expect.remote(request.run_id)
    try:
        return await handle.run_to_completion.remote(spec, request)
    except RayActorError as exc:
        return _RunWatch(spec, request, on_lost).lost_record(exc)
    except BaseException:
        cancel_run(request.run_id, wait=False)
        raise


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

    def __init__(self, spec: ComponentSpec, request: RunRequest, on_lost: OnLost) -> None:
        self.spec = spec
        self.request = request
        self.on_lost = on_lost
        self.ended = False

    def see(self, event: BaseRunEvent) -> None:
        if event.run_id == self.request.run_id and is_terminal(event):
            self.ended = True

    def lost_record(self, exc: BaseException) -> RunOutput:
        """The record of a non-streaming run whose actor died."""
        self.on_lost()
        return run_record(self.spec, self.request, status=RunStatus.error, error=self._reason(exc))

    def lost(self, exc: BaseException | None) -> BaseRunEvent:
        self.ended = True
        self.on_lost()
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
