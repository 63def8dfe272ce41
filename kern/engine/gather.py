"""Await several steps of a run at once, and on cancel let each of them end before the run does."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_all(*steps: Coroutine[Any, Any, T]) -> list[T]:
    """Run `steps` concurrently and return their results in order, once every one has ended.

    Unlike `asyncio.gather`, a cancel is passed to every step and re-raised only when all of them have
    ended (each is bounded by its own drain: a member delegation forwards its member's `RunCancelled`),
    so nothing of a step comes after the run's terminal event. A step's exception is raised once all
    have ended, so none is left running either.
    """
    tasks = [asyncio.ensure_future(step) for step in steps]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        while True:
            try:
                await asyncio.wait(tasks)
                break
            except asyncio.CancelledError:
                continue  # cancelled again while the steps end: they are ending already
        raise
    return [task.result() for task in tasks]
