"""The threads sync tools run on: a bounded pool that tools hung in cancelled runs cannot starve unseen.

A thread cannot be interrupted, so a cancelled run abandons its sync tool's thread, which stays busy
until the tool returns. Later calls get another thread while fewer than `KERN_TOOL_THREADS` (default
256) are busy in this process; beyond that a call fails at once with `ToolThreadsFull`, which names the
tools the abandoned threads are stuck in. `status()` shows the same counts.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pydantic import BaseModel

from kern.settings import whole_number

LIMIT_VARIABLE = "KERN_TOOL_THREADS"
DEFAULT_LIMIT = 256
MAX_LIMIT = 4096

T = TypeVar("T")


class ToolThreadsFull(RuntimeError):
    """Every tool thread is busy: the sync tool call is refused rather than queued behind hung tools."""


class ToolThreadStatus(BaseModel):
    """The sync tool threads of one process."""

    limit: int
    busy: int
    """Threads running a tool, abandoned ones included."""
    abandoned: int
    """Threads still running a tool whose run was cancelled."""
    abandoned_tools: dict[str, int]
    """The abandoned threads by tool name."""


class ToolThreads:
    """At most `limit` threads running sync tools; a call beyond that raises `ToolThreadsFull`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="kern-tool")
        self._lock = threading.Lock()
        self._busy: dict[int, str] = {}
        self._abandoned: set[int] = set()
        self._ids = itertools.count()

    async def run(self, name: str, fn: Callable[[], T]) -> T:
        """Run tool `name`'s `fn` on a thread; if the caller is cancelled, the thread is left to finish."""
        with self._lock:
            if len(self._busy) >= self.limit:
                raise ToolThreadsFull(self._full_message(name))
            call = next(self._ids)
            self._busy[call] = name
        future = self._executor.submit(self._work, call, fn)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            with self._lock:
                if future.cancel():  # it never started
                    del self._busy[call]
                elif call in self._busy:
                    self._abandoned.add(call)
            raise

    def _work(self, call: int, fn: Callable[[], T]) -> T:
        try:
            return fn()
        finally:
            with self._lock:
                del self._busy[call]
                self._abandoned.discard(call)

    def status(self) -> ToolThreadStatus:
        """Threads busy and abandoned, and the limit."""
        with self._lock:
            stuck = self._stuck()
            return ToolThreadStatus(
                limit=self.limit, busy=len(self._busy), abandoned=stuck.total(), abandoned_tools=stuck
            )

    def _stuck(self) -> Counter[str]:
        return Counter(self._busy[call] for call in self._abandoned)

    def _full_message(self, name: str) -> str:
        stuck = self._stuck()
        tools = ", ".join(f"{tool!r} x{count}" for tool, count in stuck.most_common())
        return (
            f"No thread free for sync tool {name!r}: all {self.limit} tool threads of this process are busy, "
            f"{stuck.total()} of them stuck in tools of cancelled runs{f' ({tools})' if tools else ''}. "
            f"Raise {LIMIT_VARIABLE} (now {self.limit}), make those tools return, or make the tools async "
            "(async tools are cancelled with their run)."
        )


def limit_from_environment() -> int:
    """`KERN_TOOL_THREADS`, or the default; a value that is not a whole number in range is an error."""
    return whole_number(LIMIT_VARIABLE, DEFAULT_LIMIT, unit="threads", maximum=MAX_LIMIT)


@functools.cache
def tool_threads() -> ToolThreads:
    """This process's sync tool threads, sized by `KERN_TOOL_THREADS` when first used."""
    return ToolThreads(limit_from_environment())


def status() -> ToolThreadStatus:
    """This process's sync tool threads: busy, abandoned (by tool), limit."""
    return tool_threads().status()
