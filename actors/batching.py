"""Calls to one actor method made in the same event-loop tick go out as one Ray call.

Runs come in bursts (a caller starts a hundred at once, a hundred members finish together and their
leaders delegate again): one Ray call per run and per control message made each burst a stall of
hundreds of milliseconds in the actors' event loops, and the cancels that landed in it waited. Batched,
a burst costs one call per (caller, actor) pair, like the links that carry the runs' events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class CallRejected(Exception):
    """The actor could not take one item of a batch; the message says why."""


class TickBatcher(Generic[Item, Result]):
    """`submit` items from one event loop; each tick's items reach the actor as one call.

    `send(items)` makes the Ray call (an ObjectRef of one result per item, in order). A result that is an
    `Exception` fails that item alone; a failed call (the actor died) fails every item of the batch.
    """

    def __init__(self, send: Callable[[list[Item]], Any]) -> None:
        self._send = send
        self._items: list[Item] = []
        self._futures: list[asyncio.Future[Result] | None] = []

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue one item; the future resolves with its result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue(item, future)
        return future

    def post(self, item: Item) -> None:
        """Queue one item whose result nobody waits for (a notice; its failure is nobody's concern)."""
        self._queue(item, None)

    def _queue(self, item: Item, future: asyncio.Future[Result] | None) -> None:
        if not self._items:
            asyncio.get_running_loop().call_soon(self._flush)
        self._items.append(item)
        self._futures.append(future)

    def _flush(self) -> None:
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        try:
            call = asyncio.ensure_future(self._send(items))
        except Exception as exc:  # the call could not even be made (a handle of a dead actor)
            _settle(futures, exc)
            return
        call.add_done_callback(lambda done: _settle(futures, done))


def _settle(
    futures: Sequence[asyncio.Future[Any] | None], outcome: asyncio.Future[Any] | BaseException
) -> None:
    if isinstance(outcome, BaseException):
        results: list[Any] = [outcome] * len(futures)
    elif outcome.cancelled():
        results = [asyncio.CancelledError()] * len(futures)
    elif outcome.exception() is not None:
        results = [outcome.exception()] * len(futures)
    else:
        results = list(outcome.result())
    for future, result in zip(futures, results, strict=True):
        if future is None or future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
