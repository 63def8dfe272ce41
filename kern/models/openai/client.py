"""Shared configuration of the OpenAI adapters and the lazily made SDK client (never pickled)."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import PrivateAttr, model_validator

from kern.models.base import Model

if TYPE_CHECKING:  # the SDK is imported where a model is called (in the actors), not by every script
    import openai

T = TypeVar("T")

STREAMS_PER_CLIENT = 32
"""Concurrent calls one SDK client carries before the next call gets another client. httpx's connection
pool does bookkeeping over all its connections each time a request starts or ends (httpcore2 2.16), so
one client with 200 streams open spent ~1.3 ms of CPU per call on it, in bursts that delayed every other
task of the process: 3.8 ms per call against 2.5 with clients of 32 (200 concurrent calls, one process)."""


class ClientPool:
    """The SDK clients of one event loop and one set of settings: a call takes the first with room, so
    calls one at a time always reuse the first client's warm connections."""

    def __init__(self, make: Callable[[], openai.AsyncOpenAI]) -> None:
        self._make = make
        self._clients: list[openai.AsyncOpenAI] = []
        self._calls: list[int] = []

    @contextmanager
    def lease(self) -> Iterator[openai.AsyncOpenAI]:
        """A client for one call, counted as busy until the call's response is closed."""
        index = next(
            (i for i, calls in enumerate(self._calls) if calls < STREAMS_PER_CLIENT), len(self._calls)
        )
        if index == len(self._clients):
            self._clients.append(self._make())
            self._calls.append(0)
        self._calls[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._calls[index] -= 1


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings every client of the process shares: what the SDK's default client builds
    (httpx's, certifi's CAs), made once; loading the CAs is ~25 ms of CPU, which each new client paid in
    the middle of a burst of calls."""
    import httpx2

    return httpx2.create_ssl_context()


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], ClientPool]] = (
    weakref.WeakKeyDictionary()
)
"""SDK clients by event loop (an httpx client belongs to one loop) and by settings."""


class OpenAIModel(Model):
    """Settings common to `OpenAIResponses` and `OpenAIChat`.

    `api_key` and `base_url` default to `OPENAI_API_KEY` / `OPENAI_BASE_URL` of the process that builds
    the model (so a driver's settings reach its actors); unset, the SDK reads them where the run executes.
    """

    api_key: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 2
    default_headers: dict[str, str] | None = None
    _pool: ClientPool | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_environment(self) -> OpenAIModel:
        if self.api_key is None:
            self.api_key = os.environ.get("OPENAI_API_KEY")
        if self.base_url is None:
            self.base_url = os.environ.get("OPENAI_BASE_URL")
        return self

    def client(self) -> AbstractContextManager[openai.AsyncOpenAI]:
        """An SDK client for one call (`with model.client() as client:`), shared with every run of the
        same settings in this process and event loop.

        Each run brings its own copy of the model (specs travel with runs), so a client per copy would
        cost a new client and connection per run (about 20-30 ms before the first token).
        """
        if self._pool is None:
            import openai

            settings = (
                self.api_key or os.environ.get("OPENAI_API_KEY") or "missing-api-key",
                self.base_url,
                self.timeout,
                self.max_retries,
                tuple(sorted((self.default_headers or {}).items())),
            )
            pools = _POOLS.setdefault(asyncio.get_running_loop(), {})
            if settings not in pools:
                pools[settings] = ClientPool(
                    lambda: openai.AsyncOpenAI(
                        api_key=settings[0],
                        base_url=self.base_url,
                        timeout=self.timeout,
                        max_retries=self.max_retries,
                        default_headers=self.default_headers,
                        http_client=openai.DefaultAsyncHttpxClient(verify=_tls()),
                    )
                )
            self._pool = pools[settings]
        return self._pool.lease()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_pool": None}
        return state

    def sampling(self, max_tokens_field: str) -> dict[str, Any]:
        """Temperature and the output cap, under this API's field names."""
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.max_output_tokens is not None:
            options[max_tokens_field] = self.max_output_tokens
        return options

    async def call(self, request: Awaitable[T]) -> T:
        """Await one SDK request; its errors become `ModelError`s that name the cause."""
        import openai

        from kern.models.openai.errors import to_model_error

        try:
            return await request
        except openai.APIError as exc:
            raise to_model_error(exc, model_id=self.id, endpoint=self.describe_endpoint()) from exc

    def describe_endpoint(self) -> str:
        """Where this model's requests go, for error messages."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
