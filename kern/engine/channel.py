"""An in-memory event channel that hands out everything queued since the last take, as one batch."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from kern.run.base import BaseRunEvent


class EventChannel:
    """Producers `emit` without waiting; one consumer takes batches.

    A batch is everything emitted since the previous batch was taken, so a slow stream costs no added
    wait and a fast one coalesces into big batches (one Ray object per batch, not per token).
    """

    def __init__(self) -> None:
        self._pending: list[BaseRunEvent] = []
        self._ready = asyncio.Event()
        self._closed = False
        self._closing: asyncio.Event | None = None

    def emit(self, event: BaseRunEvent) -> None:
        """Queue one event."""
        self._pending.append(event)
        self._ready.set()

    def extend(self, events: list[BaseRunEvent]) -> None:
        """Queue several events (a forwarded batch)."""
        if events:
            self._pending.extend(events)
            self._ready.set()

    def close(self) -> None:
        """No more events will come; `batches` ends after handing out what is queued."""
        self._closed = True
        self._ready.set()
        if self._closing is not None:
            self._closing.set()

    async def batches(self, min_interval: float = 0.0) -> AsyncIterator[list[BaseRunEvent]]:
        """Yield batches until the channel is closed and drained.

        With `min_interval`, a batch is not taken sooner than that after the previous one, unless the
        channel is closed: a slow stream (events further apart) waits for nothing, a fast one is
        coalesced into fewer, bigger batches, and the terminal event is never held back.
        """
        loop = asyncio.get_running_loop()
        last_take = -math.inf
        while True:
            await self._ready.wait()
            hold = last_take + min_interval - loop.time()
            if hold > 0 and not self._closed:
                await self._closed_or_timeout(hold)
            last_take = loop.time()
            self._ready.clear()
            batch, self._pending = self._pending, []
            if batch:
                yield batch
            if self._closed and not self._pending:
                return

    async def _closed_or_timeout(self, seconds: float) -> None:
        self._closing = self._closing or asyncio.Event()
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass
