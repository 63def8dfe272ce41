"""Reading the AgentOS database off the event loop, with HTTP errors that say what went wrong."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from kern.db import BaseDb, DatabaseError
from kern.os.agentos import AgentOS

T = TypeVar("T")
logger = logging.getLogger("kern.os")


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
    except DatabaseError as exc:  # its text may name hosts and tables: logged, not answered
        logger.warning("database call %s failed: %s", getattr(fn, "__name__", fn), exc)
        raise HTTPException(status_code=503, detail="the database is unavailable; retry later") from exc
