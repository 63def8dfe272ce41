"""Reading the AgentOS database off the event loop, with HTTP errors that say what went wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from kern.db import BaseDb, DatabaseError
from kern.os.agentos import AgentOS

T = TypeVar("T")


def require_db(agent_os: AgentOS) -> BaseDb:
    """The database, or a 404 saying none is configured."""
    if agent_os.db is None:
        raise HTTPException(
            status_code=404,
            detail="no database is configured: give AgentOS(db=...) or the components a db",
        )
    return agent_os.db


async def in_db(fn: Callable[..., T], *args: object) -> T:
    """Call a (blocking) db method in the thread pool; a database failure becomes a 503."""
    try:
        return await run_in_threadpool(fn, *args)
    except DatabaseError as exc:
        raise HTTPException(status_code=503, detail=f"database unavailable: {exc}") from exc
