"""Server-Sent Events over a run's event iterator; a client that disconnects cancels the run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from kern.os.disconnect import first_of, wait_for_disconnect
from kern.run.base import BaseRunEvent

logger = logging.getLogger("kern.os")


def sse_frame(event: BaseRunEvent) -> bytes:
    """`id: <event_index>\\nevent: <EventName>\\ndata: <event JSON>\\n\\n`, the JSON without its null
    fields (as AgentOS sends it); no `id:` for an event without its index."""
    name = getattr(event, "event", None)
    name = getattr(name, "value", name) or type(event).__name__
    index = getattr(event, "event_index", None)
    ids = f"id: {index}\n" if index is not None else ""
    return f"{ids}event: {name}\ndata: {event_data(event)}\n\n".encode()


def event_data(event: BaseRunEvent) -> str:
    """An event's SSE data: its JSON without its null fields."""
    return event.model_dump_json(exclude_none=True)


class EventStreamResponse(Response):
    """Streams `events` as SSE, each with its `event_index` and an `id:` of the same number (counted
    from `first_index`). Each next event is raced against the client's disconnect; when the client goes
    away first, the iterator is closed (which cancels the run) and `on_disconnect` runs.

    An unexpected error from the iterator becomes the terminal event made by `on_error`.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[BaseRunEvent],
        *,
        on_disconnect: Callable[[], Awaitable[object]],
        on_error: Callable[[BaseException], BaseRunEvent],
        headers: Mapping[str, str] | None = None,
        first_index: int = 0,
    ) -> None:
        # Like StreamingResponse: no body, so no Content-Length header.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})
        self.events = events
        self.index = first_index
        """The `event_index` of the next event (a stream rejoined from an index starts there)."""
        self.on_disconnect = on_disconnect
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            if await self._pump(send, disconnected):
                await send(_chunk(b"", more=False))
                return
        except OSError:  # the client went away while we were writing
            pass
        finally:
            disconnected.cancel()
            await _close(self.events)
        try:
            await self.on_disconnect()
        except Exception:
            logger.exception("cancelling the run of a disconnected client failed")

    async def _pump(self, send: Send, disconnected: asyncio.Future[None]) -> bool:
        """Forward events until the iterator ends (True) or the client disconnects (False)."""
        while True:
            step = asyncio.ensure_future(anext(self.events))
            if not await first_of(step, disconnected):
                return False
            try:
                event = step.result()
            except StopAsyncIteration:
                return True
            except Exception as exc:
                logger.exception("a run's event stream failed")
                await send(_chunk(sse_frame(self._numbered(self.on_error(exc)))))
                return True
            await send(_chunk(sse_frame(self._numbered(event))))

    def _numbered(self, event: BaseRunEvent) -> BaseRunEvent:
        """The event with its `event_index` (the next number)."""
        numbered = event.model_copy(update={"event_index": self.index})
        self.index += 1
        return numbered


def _chunk(body: bytes, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def _close(events: AsyncIterator[BaseRunEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        logger.exception("closing a run's event stream failed")
