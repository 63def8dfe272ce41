"""Noticing that an HTTP client went away, and racing work against it (Ray Serve's proxy pattern)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the ASGI server reports `http.disconnect` (body messages left unread are skipped)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def first_of(step: asyncio.Future[T], disconnected: asyncio.Future[None]) -> bool:
    """Wait for `step` or the disconnect, whichever comes first; True if `step` is done.

    When the client went away first, `step` is cancelled and awaited (its own error is not raised).
    """
    try:
        waiting: set[asyncio.Future[Any]] = {step, disconnected}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not step.done():  # the client went away, or this task itself is being cancelled
            step.cancel()
            await asyncio.wait({step})
    return not step.cancelled()


async def unless_disconnected(
    receive: Receive,
    work: Coroutine[Any, Any, T],
    on_disconnect: Callable[[], Awaitable[object]],
) -> T:
    """Await `work` unless the client disconnects first: then cancel it, call `on_disconnect`, raise
    `ClientGone`."""
    disconnected = asyncio.ensure_future(wait_for_disconnect(receive))
    step = asyncio.ensure_future(work)
    try:
        if await first_of(step, disconnected):
            return step.result()
    finally:
        disconnected.cancel()
    await on_disconnect()
    raise ClientGone
