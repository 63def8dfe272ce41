"""A run's stream as it went, kept where the run runs, so a caller can rejoin it from any event.

The actor keeps the frames of each run a caller started (its members' frames included, as its stream
carries them) while it runs and for `KEPT_SECONDS` after; a caller that rejoins gets them from the first
and then follows the run live until its terminal frame. Frames are counted in the order the stream
carries them, so an event's position (`event_index`) is the same for every caller.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from kern.engine.frames import Frame, is_terminal_frame
from kern.engine.outbox import Outbox

KEPT_SECONDS = 120.0
"""How long an ended run's stream stays in its actor for callers that rejoin (then: its stored events)."""
KEPT_FRAMES = 500_000
"""The most frames of ended runs an actor keeps (about 50-100 MB); past it, the oldest ended runs go."""


class StreamLog:
    """The frames of one run's stream, in order, and a way to follow them."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.frames: list[Frame] = []
        self.ended = False
        self._changed = asyncio.Event()

    def finish(self) -> None:
        """The run is over (its terminal frame came, or its task ended without one): followers stop."""
        self.ended = True
        self._changed.set()

    def add(self, frames: list[Frame]) -> None:
        if not frames:
            return
        self.frames.extend(frames)
        last = frames[-1]  # (a run's terminal frame is the last of its stream)
        self.ended = self.ended or (last[0] == self.run_id and is_terminal_frame(last))
        self._changed.set()

    async def follow(self) -> AsyncIterator[list[Frame]]:
        """Every frame from the first, then each new one as it comes, until the run's terminal frame."""
        sent = 0
        while True:
            if sent < len(self.frames):
                chunk, sent = self.frames[sent:], len(self.frames)
                yield chunk
                continue
            if self.ended:
                return
            self._changed.clear()
            await self._changed.wait()


class LoggedOutbox(Outbox):
    """An outbox that also keeps one route's frames (a run's stream) in its `StreamLog`."""

    def __init__(self, inner: Outbox, log: StreamLog) -> None:
        super().__init__(inner.interval)
        self.inner = inner
        self.log = log

    def put(self, route: str, frames: list[Frame], *, urgent: bool = False) -> None:
        """Keep the log's route's frames, and pass every frame on."""
        if route == self.log.run_id:
            self.log.add(frames)
        self.inner.put(route, frames, urgent=urgent)


class StreamLogs:
    """The streams an actor keeps: those of the runs in flight, and of the runs that ended lately."""

    def __init__(self) -> None:
        self._live: dict[str, StreamLog] = {}
        self._ended: OrderedDict[str, tuple[StreamLog, float]] = OrderedDict()
        self._ended_frames = 0

    def open(self, run_id: str) -> StreamLog:
        """A new run's stream (a continued run's starts anew under the same id)."""
        self._drop_ended(run_id)
        log = self._live[run_id] = StreamLog(run_id)
        return log

    def close(self, log: StreamLog) -> None:
        """The run ended: its stream is kept a while for callers that rejoin."""
        if self._live.get(log.run_id) is not log:
            return
        del self._live[log.run_id]
        log.finish()
        self._ended[log.run_id] = (log, time.monotonic() + KEPT_SECONDS)
        self._ended_frames += len(log.frames)
        now = time.monotonic()
        while self._ended and (self._ended_frames > KEPT_FRAMES or next(iter(self._ended.values()))[1] < now):
            self._drop_ended(next(iter(self._ended)))

    def get(self, run_id: str) -> StreamLog | None:
        """The stream of a run in flight or lately ended here."""
        live = self._live.get(run_id)
        if live is not None:
            return live
        ended = self._ended.get(run_id)
        return ended[0] if ended is not None and ended[1] >= time.monotonic() else None

    def _drop_ended(self, run_id: str) -> None:
        gone = self._ended.pop(run_id, None)
        if gone is not None:
            self._ended_frames -= len(gone[0].frames)
