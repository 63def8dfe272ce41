"""An in-memory event channel that hands out everything queued since the last take, as one batch."""

from __future__ import annotations

import asyncio
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

    async def batches(self) -> AsyncIterator[list[BaseRunEvent]]:
        """Yield batches until the channel is closed and drained."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            if batch:
                yield batch
            if self._closed and not self._pending:
                return
