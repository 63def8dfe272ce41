"""Running one simulated generation over ASGI: pacing, stalls, disconnects and dropped connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kern.model_server.behaviour import Reply, chunk_words
from kern.model_server.config import Fault, ModelServerConfig
from kern.model_server.state import ServerState

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(Exception):
    """The client closed the connection; the generation stops."""


class ServerAborted(Exception):
    """The server is shutting down; the generation stops."""


class ConnectionDropped(Exception):
    """Raised out of the ASGI app so uvicorn cuts the TCP connection mid-response."""


class _DropFilter(logging.Filter):
    """Hides uvicorn's "Exception in ASGI application" records caused by ``ConnectionDropped``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _contains_drop(exc)


def _contains_drop(exc: BaseException | None) -> bool:
    if isinstance(exc, ConnectionDropped):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains_drop(inner) for inner in exc.exceptions)
    return False


_DROP_FILTER = _DropFilter()


def install_log_filter() -> None:
    """Silence intentional connection drops in uvicorn's error log (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _DROP_FILTER not in logger.filters:
        logger.addFilter(_DROP_FILTER)


def sse(data: str, event: str | None = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


class Generation:
    """Per-request runtime handed to a protocol's producer coroutine.

    Every wait races against the client's disconnect (and server shutdown), so a stalled
    or streaming generation stops within milliseconds of the client going away.
    """

    def __init__(
        self,
        send: Send,
        config: ModelServerConfig,
        state: ServerState,
        request_id: str,
        fault: Fault | None,
    ) -> None:
        self._send = send
        self.config = config
        self._state = state
        self._request_id = request_id
        self.fault = fault
        """A ``drop`` or ``stall`` fault this reply is to suffer."""
        self.words_sent = 0
        self.started = False
        self.status_code: int | None = None
        self._stop = asyncio.Event()
        self.client_gone = False
        self.aborted = False
        self.completed = False
        self.stalled = False
        self._due: float | None = None

    # -- signals -----------------------------------------------------------------
    def mark_client_gone(self) -> None:
        self.client_gone = True
        self._stop.set()

    def abort(self) -> None:
        self.aborted = True
        self._stop.set()

    def _check(self) -> None:
        if self.client_gone:
            raise ClientGone
        if self.aborted:
            raise ServerAborted

    # -- timing ------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        """Sleep, but raise as soon as the client disconnects or the server stops."""
        self._check()
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._stop.wait()
        self._check()

    async def think(self) -> None:
        """The stall before the first token (``first_token_delay``)."""
        await self.sleep(self.config.first_token_delay)
        self._due = asyncio.get_running_loop().time()

    async def pace(self, words: int) -> None:
        """Wait until ``words`` more words are due at ``tokens_per_second``."""
        loop = asyncio.get_running_loop()
        if self._due is None:
            self._due = loop.time()
        rate = self.config.tokens_per_second
        if rate > 0:
            self._due += words / rate
        await self.sleep(self._due - loop.time())

    # -- output ------------------------------------------------------------------
    async def start(self, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """Send the response head."""
        self._check()
        self.status_code = status
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers or []})

    async def emit(self, data: bytes) -> None:
        """Send a body chunk (more to follow)."""
        self._check()
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def emit_words(self, data: bytes | None, words: int) -> None:
        """Produce ``words`` paced words, sending ``data`` if streaming (where a fault applies)."""
        if data is not None:
            await self.check_fault()
        await self.pace(words)
        if data is not None:
            await self.emit(data)
        self.words_sent += words
        self._state.update_request(self._request_id, words_sent=self.words_sent)

    async def check_fault(self, final: bool = False) -> None:
        """Once the fault is due (always before the final event): cut the connection for ``drop``, for
        ``stall`` send nothing more until the client leaves (or the server stops)."""
        if self.fault is None or not (final or self.words_sent >= self.fault.after_words):
            return
        if self.fault.kind == "drop":
            raise ConnectionDropped
        self.stalled = True
        await self._stop.wait()
        self._check()

    async def finish(self, data: bytes = b"") -> None:
        """Send the last body chunk (after the fault check).

        The request is logged as completed just before, so a client that has read the whole
        response always finds it completed in the log.
        """
        await self.check_fault(final=True)
        self._check()
        self.completed = True
        self._state.finish_request(
            self._request_id, "completed", self.status_code, words_sent=self.words_sent
        )
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def respond_whole(self, reply: Reply, payload: Callable[[], Any]) -> None:
        """A non-streaming answer: think, pace the reply as if generating it, then send it whole."""
        await self.think()
        if reply.is_tool_call:
            await self.pace(len(reply.tool_calls))
        for delta in chunk_words(reply.words, self.config.chunk_words):
            await self.emit_words(None, len(delta.split()))
        await self.send_json(payload())

    async def send_json(self, payload: Any, status: int = 200) -> None:
        """Send a complete JSON response; with a fault, only half of it before the fault."""
        body = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self.start(status, headers)
        if self.fault is not None:
            await self.emit(body[: len(body) // 2])
        await self.finish(body)


Producer = Callable[[Generation], Awaitable[None]]


async def _watch_disconnect(receive: Receive, generation: Generation) -> None:
    """Flag the generation as soon as the server reports ``http.disconnect``."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a broken receive channel means the client is gone too
        pass
    generation.mark_client_gone()


class GenerationResponse(Response):
    """A Starlette response that runs a producer and records how the request ended."""

    def __init__(
        self,
        state: ServerState,
        request_id: str,
        config: ModelServerConfig,
        producer: Producer,
        fault: Fault | None = None,
    ) -> None:
        super().__init__()
        self._state = state
        self._request_id = request_id
        self._config = config
        self._producer = producer
        self._fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        generation = Generation(send, self._config, self._state, self._request_id, self._fault)

        def abort() -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(generation.abort)

        token = self._state.register_aborter(abort)
        watcher = asyncio.create_task(_watch_disconnect(receive, generation))
        status, fault = "error", None
        try:
            await self._producer(generation)
        except ClientGone:
            status = "disconnected"
        except ServerAborted:
            status = "disconnected"
            raise ConnectionDropped from None
        except ConnectionDropped:
            status, fault = "fault", "drop"
            raise
        except asyncio.CancelledError:
            status = "disconnected"
            raise
        finally:
            self._state.unregister_aborter(token)
            watcher.cancel()
            if not generation.completed:
                self._state.finish_request(
                    self._request_id,
                    status,
                    generation.status_code,
                    words_sent=generation.words_sent,
                    fault="stall" if generation.stalled else fault,
                )
