"""Reads a run needs (its session's history) on a few threads of their own, each wait bounded."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kern.db.base import BaseDb, DatabaseError
from kern.db.writer import writer_for

T = TypeVar("T")

READ_THREADS = 8
"""Reads at once per process: a frozen database holds at most these threads (until its own timeout),
never the event loop's default executor."""

_pool: ThreadPoolExecutor


def _new_pool() -> None:
    """The reader threads (again in a forked child, which has none of its parent's threads)."""
    global _pool
    _pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="kern-db-read")


_new_pool()
os.register_at_fork(after_in_child=_new_pool)


async def read(db: BaseDb, fn: Callable[[BaseDb], T], wait: float) -> T:
    """`fn(db)` on a reader thread, with this process's instance of the database (its writer's);
    DatabaseError if it does not answer within `wait` seconds."""
    shared = writer_for(db).db
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_pool, fn, shared), wait)
    except TimeoutError:
        raise DatabaseError(f"{db.description} did not answer within {wait:g} s", transient=True) from None
