"""The producer's end of a link: frames of every run bound for one consumer, handed out in batches."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from kern.engine.frames import Batch, Frame


class Outbox:
    """Runs `put` frames without waiting; the link takes them as one batch at most every `interval`.

    A batch holds everything queued since the previous one, for every run on the link, so the cost of
    a link is bounded by its interval, not by runs times tokens. An urgent frame (a run's first or
    terminal event) is never held: it releases the batch at once, so starts and cancels keep their
    latency under load.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: Batch = {}
        self._ready = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closed = False
        self._pinged = False

    def put(self, route: str, frames: list[Frame], *, urgent: bool = False) -> None:
        """Queue frames of one route, in order."""
        if not frames:
            return
        queued = self._pending.get(route)
        if queued is None:
            self._pending[route] = list(frames)
        else:
            queued.extend(frames)
        self._ready.set()
        if urgent:
            self._urgent.set()

    def ping(self) -> None:
        """Send a batch now even if it is empty: a sign of life for a link with nothing else to carry."""
        self._pinged = True
        self._ready.set()
        self._urgent.set()

    def close(self) -> None:
        """No more frames; `batches` ends after handing out what is queued."""
        self._closed = True
        self._ready.set()
        self._urgent.set()

    async def batches(self) -> AsyncIterator[Batch]:
        """Yield batches until closed and drained."""
        loop = asyncio.get_running_loop()
        last_take = -math.inf
        while True:
            await self._ready.wait()
            hold = last_take + self.interval - loop.time()
            if hold > 0 and not self._urgent.is_set():
                try:
                    await asyncio.wait_for(self._urgent.wait(), hold)
                except TimeoutError:
                    pass
            last_take = loop.time()
            self._ready.clear()
            self._urgent.clear()
            batch, self._pending = self._pending, {}
            if batch or self._pinged:
                self._pinged = False
                yield batch
            if self._closed and not self._pending:
                return


class DiscardingOutbox(Outbox):
    """For a run nobody streams (a non-streaming call): its frames are dropped, its record is the result."""

    def __init__(self) -> None:
        super().__init__(0.0)

    def put(self, route: str, frames: list[Frame], *, urgent: bool = False) -> None:
        """Drop the frames."""
