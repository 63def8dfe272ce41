"""The caller's side of a run on an actor: flatten batches into events, turn actor loss into an error
event, and cancel the run when the caller walks away."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from actors.runtime import supervisor
from kern.engine.events import failure_event
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import is_terminal
from kern.specs import ComponentSpec, RunRequest, TeamSpec, run_record

IDLE_TIMEOUT_SECONDS = 900.0
"""Longest wait for the next batch; the model's own timeout normally ends a stalled run long before."""
CANCEL_TIMEOUT_SECONDS = 15.0


OnLost = Callable[[], None]
"""Told when the run's actor is lost, so the caller stops using that handle."""


def stream_run(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> Iterator[BaseRunEvent]:
    """Run on the actor and yield its events one by one (blocking; usable from any thread)."""
    watch = _RunWatch(spec, request, on_lost)
    supervisor().expect.remote(request.run_id)
    stream = handle.run.options(num_returns="streaming").remote(spec, request)
    try:
        while True:
            ready, _ = ray.wait([stream], timeout=IDLE_TIMEOUT_SECONDS)
            if not ready:
                raise GetTimeoutError(f"no event from run {request.run_id} for {IDLE_TIMEOUT_SECONDS:.0f} s")
            try:
                ref = next(stream)
            except StopIteration:
                break
            for event in ray.get(ref, timeout=IDLE_TIMEOUT_SECONDS):
                watch.see(event)
                yield event
    except RayError as exc:
        if not watch.ended:
            yield watch.lost(exc)
    finally:
        if not watch.ended:
            cancel_run(request.run_id, wait=False)
    if not watch.ended:
        yield watch.lost(None)


async def astream_run(
    handle: ActorHandle, spec: ComponentSpec, request: RunRequest, on_lost: OnLost
) -> AsyncIterator[BaseRunEvent]:
    """The async twin of `stream_run`."""
    watch = _RunWatch(spec, request, on_lost)
    supervisor().expect.remote(request.run_id)
    stream = handle.run.options(num_returns="streaming").remote(spec, request)
    try:
        async for ref in stream:
            for event in await ref:
                watch.see(event)
                yield event
    except RayError as exc:
        if not watch.ended:
            yield watch.lost(exc)
    finally:
        if not watch.ended:
            cancel_run(request.run_id, wait=False)
    if not watch.ended:
        yield watch.lost(None)


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
