"""The consumer's end of a link: batches split by route into one inbox per run the consumer started."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from kern.engine.frames import Batch, Frame, is_terminal_frame
from kern.settings import whole_number

MAX_UNREAD_VARIABLE = "KERN_MAX_UNREAD_EVENTS"
DEFAULT_MAX_UNREAD_FRAMES = 20_000
"""Minutes of a model's tokens."""


def max_unread_frames() -> int:
    """`KERN_MAX_UNREAD_EVENTS` (a positive integer), else 20,000."""
    return whole_number(MAX_UNREAD_VARIABLE, DEFAULT_MAX_UNREAD_FRAMES, unit="events")


MAX_UNREAD_FRAMES = max_unread_frames()
"""A run whose consumer leaves this many frames (one frame is one event) unread is cancelled: what is
queued for a caller that stopped reading stays bounded. The caller still gets every frame, up to the run's
end. Read once, at import, in every process; it matters in the one that consumes the run (for HTTP, the
`kern serve` process)."""


class LinkBroken(Exception):
    """The link ended before the run's terminal frame (its actor died, or the link was closed)."""


class Inbox(Protocol):
    """Where a link delivers the frames of one route."""

    def push(self, frames: list[Frame]) -> None:
        """Frames of the route, in order."""
        ...

    def fail(self, error: BaseException) -> None:
        """The link broke: no more frames will come."""
        ...


class Demux:
    """Routes of one link: each batch's frames go to the inbox of their route."""

    def __init__(self) -> None:
        self.routes: dict[str, Inbox] = {}

    def open(self, route: str, inbox: Inbox) -> None:
        """Deliver the frames of `route` (a run started by this consumer) to `inbox`."""
        if route in self.routes:
            raise ValueError(f"Run {route!r} is already being received on this link")
        self.routes[route] = inbox

    def close(self, route: str) -> None:
        """Stop delivering `route`; its later frames are dropped."""
        self.routes.pop(route, None)

    def dispatch(self, batch: Batch) -> None:
        """Hand each route its frames."""
        for route, frames in batch.items():
            inbox = self.routes.get(route)
            if inbox is not None:
                inbox.push(frames)

    def fail_all(self, error: BaseException) -> None:
        """The link broke: every route learns it, and the demux is emptied."""
        routes, self.routes = self.routes, {}
        for inbox in routes.values():
            inbox.fail(error)


class _UnreadLimit:
    """Calls `overflow` once when more than `MAX_UNREAD_FRAMES` frames wait to be read."""

    def __init__(self, overflow: Callable[[], None] | None) -> None:
        self._overflow = overflow
        self.unread = 0

    def add(self, count: int) -> None:
        self.unread += count
        if self._overflow is not None and self.unread > MAX_UNREAD_FRAMES:
            overflow, self._overflow = self._overflow, None
            overflow()


class AsyncInbox:
    """An inbox read by a task on the link's own event loop; `overflow` is called if its reader falls
    `MAX_UNREAD_FRAMES` behind."""

    def __init__(self, run_id: str, overflow: Callable[[], None] | None = None) -> None:
        self.run_id = run_id
        self._frames: list[Frame] = []
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._limit = _UnreadLimit(overflow)

    def push(self, frames: list[Frame]) -> None:
        """Queue frames (called on the reader's loop)."""
        self._frames.extend(frames)
        self._limit.add(len(frames))
        self._wake()

    def fail(self, error: BaseException) -> None:
        """The link broke."""
        self._error = error
        self._wake()

    async def batches(self, idle_timeout: float) -> AsyncIterator[list[Frame]]:
        """Frames as they come, until the run's own terminal frame; raises if the link breaks first.

        One bare future per wait (not `asyncio.wait_for`, which makes a task each time: a sixth of the
        caller's CPU with 200 runs streaming).
        """
        loop = asyncio.get_running_loop()
        while True:
            if not self._frames and self._error is None:
                self._waiter = loop.create_future()
                timer = loop.call_later(idle_timeout, _expire, self._waiter, self.run_id, idle_timeout)
                try:
                    await self._waiter
                finally:
                    timer.cancel()
                    self._waiter = None
            frames, self._frames = self._frames, []
            self._limit.unread = 0
            if frames:
                yield frames
                if _ends(frames, self.run_id):
                    return
            elif self._error is not None:
                raise self._error

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], run_id: str, idle_timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no event from run {run_id} for {idle_timeout:.0f} s"))


class ThreadInbox:
    """An inbox read by a thread that blocks on it (the synchronous `run(stream=True)`); `overflow` is
    called (on the link's thread) if its reader falls `MAX_UNREAD_FRAMES` behind."""

    def __init__(self, run_id: str, overflow: Callable[[], None] | None = None) -> None:
        self.run_id = run_id
        self._queue: queue.SimpleQueue[list[Frame] | BaseException] = queue.SimpleQueue()
        self._limit = _UnreadLimit(overflow)

    def push(self, frames: list[Frame]) -> None:
        """Queue frames (called from the link's thread)."""
        self._queue.put(frames)
        self._limit.add(len(frames))

    def fail(self, error: BaseException) -> None:
        """The link broke."""
        self._queue.put(error)

    def batches(self, idle_timeout: float) -> Iterator[list[Frame]]:
        """Frames as they come, until the run's own terminal frame; raises if the link breaks first."""
        while True:
            try:
                item = self._queue.get(timeout=idle_timeout)
            except queue.Empty:
                raise TimeoutError(f"no event from run {self.run_id} for {idle_timeout:.0f} s") from None
            if isinstance(item, BaseException):
                raise item
            self._limit.unread -= len(item)
            yield item
            if _ends(item, self.run_id):
                return


def _ends(frames: list[Frame], run_id: str) -> bool:
    last = frames[-1]
    return last[0] == run_id and is_terminal_frame(last)
