"""The supervisor's view of each session's runs in flight, and the busy-session policies over it.

A run started by a caller (not a member's run) is tracked under its session from the moment its caller
announces it until it ends. A run whose caller asks for a policy other than `concurrent` is admitted
here first: `reject` refuses it while the session has a run in flight, `interrupt` cancels those runs
and waits (bounded) for them to end, `enqueue` waits its turn, first come first served, behind them and
every run queued before it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from kern.specs import BusySession

START_GRACE_SECONDS = 30.0
"""An announced run whose actor has not registered it within this long no longer keeps its session busy
(its caller died, or gave up)."""
INTERRUPT_SECONDS = 10.0
"""How long an interrupting run waits for the runs it cancelled to end before it starts anyway."""
QUEUE_SECONDS = 600.0
"""How long a queued run waits for its turn before it is refused."""


class SessionGate:
    """Which runs each session has in flight, and the admission of runs by their session policy."""

    def __init__(
        self, is_live: Callable[[str], bool], cancel: Callable[[str], Awaitable[object]], limit: int
    ) -> None:
        self._is_live = is_live
        self._cancel = cancel
        self._limit = limit
        """The most runs tracked: past it the oldest go (a flood of runs announced and never started)."""
        self._runs: dict[str, dict[str, float]] = {}
        """Session id -> its tracked runs -> when each was announced (monotonic)."""
        self._session_of: OrderedDict[str, str] = OrderedDict()
        self._queues: dict[str, deque[str]] = {}
        self._changed: dict[str, asyncio.Event] = {}

    def track(self, run_id: str, session_id: str) -> None:
        """A caller announced this run of the session."""
        self._runs.setdefault(session_id, {})[run_id] = time.monotonic()
        self._session_of[run_id] = session_id
        self._session_of.move_to_end(run_id)
        while len(self._session_of) > self._limit:
            self.untrack(next(iter(self._session_of)))

    def tracked(self) -> int:
        """How many runs are tracked (for diagnostics and tests)."""
        return len(self._session_of)

    def untrack(self, run_id: str) -> None:
        """The run ended (or will never start): its session may be free."""
        session_id = self._session_of.pop(run_id, None)
        if session_id is None:
            return
        runs = self._runs.get(session_id, {})
        runs.pop(run_id, None)
        if not runs:
            self._runs.pop(session_id, None)
        self._wake(session_id)

    def busy(self, session_id: str) -> list[str]:
        """The session's runs in flight (registered by their actor, or announced within the grace)."""
        now = time.monotonic()
        runs = self._runs.get(session_id, {})
        stale = [r for r, since in runs.items() if not self._is_live(r) and now - since > START_GRACE_SECONDS]
        for run_id in stale:
            self.untrack(run_id)
        return [run_id for run_id in self._runs.get(session_id, {})]

    def queued(self, session_id: str) -> int:
        """How many runs wait their turn on the session."""
        return len(self._queues.get(session_id, ()))

    async def admit(self, run_id: str, session_id: str, policy: BusySession) -> list[str]:
        """Apply `policy` to a new run of the session; [] once it may start (it is then tracked), else the
        runs that keep it out (`reject`, or a queue wait that ran out)."""
        if policy == "reject" and (blocking := self.busy(session_id)):
            return blocking
        if policy == "interrupt":
            for running in self.busy(session_id):
                await self._cancel(running)
            await self._wait(session_id, lambda: not self.busy(session_id), INTERRUPT_SECONDS)
        if policy == "enqueue":
            queue = self._queues.setdefault(session_id, deque())
            queue.append(run_id)
            try:
                turn = await self._wait(
                    session_id, lambda: queue[0] == run_id and not self.busy(session_id), QUEUE_SECONDS
                )
            finally:
                queue.remove(run_id)
                if not queue:
                    self._queues.pop(session_id, None)
                self._wake(session_id)
            if not turn:
                return self.busy(session_id) or ["(the runs queued before it)"]
        self.track(run_id, session_id)
        return []

    async def _wait(self, session_id: str, ready: Callable[[], bool], seconds: float) -> bool:
        """Wait until `ready()` (checked whenever the session changes), at most `seconds`."""
        deadline = time.monotonic() + seconds
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            changed = self._changed.setdefault(session_id, asyncio.Event())
            try:
                # (also rechecked now and then: a run stuck before its actor registered it goes stale)
                await asyncio.wait_for(changed.wait(), min(left, START_GRACE_SECONDS / 10))
            except TimeoutError:
                pass
        return True

    def _wake(self, session_id: str) -> None:
        changed = self._changed.pop(session_id, None)
        if changed is not None:
            changed.set()
