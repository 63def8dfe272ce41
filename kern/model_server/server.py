"""``ModelServer``: the local OpenAI-compatible server running uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import uvicorn

from kern.model_server.app import create_app
from kern.model_server.config import Fault, ModelServerConfig, RecordedRequest
from kern.model_server.state import ServerState


class ModelServer:
    """A local OpenAI-compatible model server for demos and tests.

    >>> with ModelServer() as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="test")
    """

    def __init__(
        self,
        config: ModelServerConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        graceful_shutdown: float = 1.0,
    ) -> None:
        self.state = ServerState(config)
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._graceful_shutdown = graceful_shutdown
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Self:
        """Start serving; blocks until the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("ModelServer already started")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=math.ceil(self._graceful_shutdown),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(self._server, sock), name=f"kern-model-server-{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("model server failed to start") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"model server did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced by start()
            self._error = exc
        finally:
            sock.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Abort in-flight generations and shut the server down."""
        if self._server is None or self._thread is None:
            return
        self.state.abort_all()
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("ModelServer not started")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8700``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url``, e.g. ``http://127.0.0.1:8700/v1``."""
        return f"{self.url}/v1"

    # -- controls ----------------------------------------------------------------
    @property
    def config(self) -> ModelServerConfig:
        return self.state.config

    def configure(self, **fields: Any) -> ModelServerConfig:
        """Change config fields for subsequent requests (validated)."""
        return self.state.configure(**fields)

    def add_fault(self, fault: Fault | str, **fields: Any) -> Fault:
        """Queue a fault: ``add_fault(Fault(kind="429"))`` or ``add_fault("drop", after_words=3)``."""
        if isinstance(fault, str):
            fault = Fault(kind=fault, **fields)  # type: ignore[arg-type]
        elif fields:
            fault = fault.model_copy(update=fields)
        self.state.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        self.state.clear_faults()

    # -- request log -------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request to ``/v1/*``, oldest first."""
        return self.state.requests

    def clear_requests(self) -> None:
        self.state.clear_requests()

    def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool] = lambda _: True, timeout: float = 5.0
    ) -> RecordedRequest:
        """Block until a recorded request satisfies ``predicate``; raises ``TimeoutError``."""
        return self.state.wait_for_request(predicate, timeout)

    def wait_for_disconnect(self, timeout: float = 5.0, model: str | None = None) -> RecordedRequest:
        """Block until a request (optionally for ``model``) is recorded as ``disconnected``."""
        return self.wait_for_request(
            lambda r: r.status == "disconnected" and (model is None or r.model == model), timeout
        )

    async def wait_for_request_async(
        self,
        predicate: Callable[[RecordedRequest], bool] = lambda _: True,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors the blocking helper
    ) -> RecordedRequest:
        """``wait_for_request`` without blocking the calling event loop."""
        return await asyncio.to_thread(self.wait_for_request, predicate, timeout)

    async def wait_for_disconnect_async(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors the blocking helper
        model: str | None = None,
    ) -> RecordedRequest:
        """``wait_for_disconnect`` without blocking the calling event loop."""
        return await asyncio.to_thread(self.wait_for_disconnect, timeout, model)
