"""Shared configuration of the OpenAI adapters and the lazily made SDK client (never pickled)."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from kern.agno_options import not_supported
from kern.models.base import Model

if TYPE_CHECKING:  # the SDK is imported where a model is called (in the actors), not by every script
    import openai

T = TypeVar("T")

CALLS_PER_CLIENT = 16
"""Model calls in flight on one SDK client before a call opens another client (its own connection
pool). httpx does a pool's bookkeeping at every request and every response close in time proportional to
the pool's connections (httpcore's `_assign_requests_to_connections` also probes each idle connection's
socket): in one event loop with 200 streams, a stream's end cost 1.17 ms on one client against 0.62 ms
spread over clients. A call takes the first client with room, so a process with few calls keeps reusing
one client's warm connections."""


class ClientPool:
    """The SDK clients of one model setting on one event loop; each call leases the first with room."""

    def __init__(self, make: Callable[[], openai.AsyncOpenAI]) -> None:
        self._make = make
        self._clients: list[openai.AsyncOpenAI] = []
        self._calls: list[int] = []

    def first(self) -> openai.AsyncOpenAI:
        """The first client (for short calls that need no lease: polling, cancelling)."""
        if not self._clients:
            self._add()
        return self._clients[0]

    @contextmanager
    def lease(self) -> Iterator[openai.AsyncOpenAI]:
        """A client with fewer than `CALLS_PER_CLIENT` calls in flight, held for one call."""
        index = next((i for i, calls in enumerate(self._calls) if calls < CALLS_PER_CLIENT), None)
        if index is None:
            index = self._add()
        self._calls[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._calls[index] -= 1

    def _add(self) -> int:
        self._clients.append(self._make())
        self._calls.append(0)
        return len(self._clients) - 1


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], ClientPool]] = (
    weakref.WeakKeyDictionary()
)
"""SDK clients by event loop (an httpx client belongs to one loop) and by settings."""

UNPICKLABLE = {
    "http_client": "an httpx client holds open connections of one process and event loop",
    "client": "an SDK client holds open connections of one process",
    "async_client": "an SDK client holds open connections of one process and event loop",
}
"""Agno's options that hand kern a live object, and why kern cannot take it."""


AGNO_MODEL_DEFAULTS: dict[str, Any] = {
    "provider": "OpenAI", "supports_native_structured_outputs": True,
    "supports_json_schema_outputs": False, "system_prompt": None, "instructions": None,
    "tool_message_role": "tool", "assistant_message_role": "assistant", "cache_response": False,
    "cache_ttl": None, "cache_dir": None, "retries": 0, "delay_between_retries": 1,
    "exponential_backoff": False, "retry_with_guidance": True, "retry_with_guidance_limit": 1,
}  # fmt: skip
"""Options of Agno 3.1.10's OpenAI models that kern does not take, with their defaults: an explicit
default is accepted, any other value refused by name (each model adds its own, `AGNO_DEFAULTS`)."""


class OpenAIModel(Model):
    """Settings common to `OpenAIResponses` and `OpenAIChat`.

    `api_key` and `base_url` default to `OPENAI_API_KEY` / `OPENAI_BASE_URL` of the process that builds
    the model (so a driver's settings reach its actors); unset, the SDK reads them where the run executes.
    `timeout` is the SDK's, for connecting and for each read (a non-streamed reply arrives in one read).
    `organization`, `default_query` and `client_params` (more `AsyncOpenAI` arguments, over the others)
    go to the SDK client as in Agno. An `http_client` cannot: it is not plain data that can travel to the
    actors, and belongs to one event loop.
    """

    provider: ClassVar[str | None] = "OpenAI"
    AGNO_DEFAULTS: ClassVar[Mapping[str, Any] | None] = None
    """Set by an adapter that takes its keywords as Agno's class does: the Agno options kern does not take,
    each with Agno's default. Another value for one of them is refused by name (`NotImplementedError`); a
    keyword that is neither a field nor one of these is a `TypeError`, as Agno's dataclass raises."""

    api_key: str | None = Field(default=None, repr=False)
    """Left out of `repr()`/`str()` (and so of specs, logs and tracebacks); pickled, so it reaches actors."""
    base_url: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout: float = 60.0
    stream_idle_timeout: float | None = Field(default=None, gt=0)
    """Seconds a streamed reply may go without sending anything, before its first token or between two,
    before the run ends with a `ModelStalled` error; it also bounds the wait for the stream to start
    (retried like any timeout). A long reply that keeps streaming is never cut. `None`: `timeout`."""
    max_retries: int = 2
    name: str | None = None
    """A display name (Agno's `name`); nothing is sent for it."""
    strict_output: bool = True
    """Ask the API to hold the answer to the output schema exactly (Agno's `strict_output`)."""
    default_headers: dict[str, str] | None = None
    organization: str | None = None
    default_query: dict[str, Any] | None = None
    client_params: dict[str, Any] | None = None
    _clients: ClientPool | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _take_agno_keywords(cls, data: Any) -> Any:
        if cls.AGNO_DEFAULTS is None or not isinstance(data, dict):
            return data
        kind = cls.__name__
        for name, value in data.items():
            if name in cls.model_fields:
                continue
            if name not in cls.AGNO_DEFAULTS:
                raise TypeError(f"{kind}() got an unexpected keyword argument {name!r}")
            if name in UNPICKLABLE and value is not None:
                raise NotImplementedError(
                    f"{kind}({name}=...) is not supported: {UNPICKLABLE[name]}, which cannot be pickled to "
                    "the Ray actor where kern calls the model; kern makes its own SDK client there "
                    "(set timeout, max_retries, default_headers, default_query or client_params instead)"
                )
            if value != cls.AGNO_DEFAULTS[name]:
                raise not_supported(f"{kind}({name}=...)")
        data = {name: value for name, value in data.items() if name in cls.model_fields}
        for name in ("timeout", "max_retries"):  # Agno's None: the default
            if name in data and data[name] is None:
                del data[name]
        if data.get("base_url") is not None:
            data["base_url"] = str(data["base_url"])  # Agno also takes an `httpx.URL`
        return data

    @field_validator("client_params")
    @classmethod
    def _plain_client_params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and "http_client" in value:
            raise NotImplementedError(
                f"client_params={{'http_client': ...}} is not supported: {UNPICKLABLE['http_client']}, which "
                "cannot be pickled to the Ray actor where kern calls the model"
            )
        return value

    @model_validator(mode="after")
    def _read_environment(self) -> OpenAIModel:
        if self.api_key is None:
            self.api_key = os.environ.get("OPENAI_API_KEY")
        if self.base_url is None:
            self.base_url = os.environ.get("OPENAI_BASE_URL")
        return self

    @property
    def client(self) -> openai.AsyncOpenAI:
        """An async SDK client of these settings in this process and event loop (for short calls)."""
        return self.clients.first()

    @property
    def clients(self) -> ClientPool:
        """The SDK clients shared by every run of the same settings in this process and event loop.

        Each run brings its own copy of the model (specs travel with runs), so a client per copy would
        cost a new client and connection per run (about 20-30 ms before the first token).
        """
        if self._clients is None:
            import openai

            settings = (
                self.api_key or os.environ.get("OPENAI_API_KEY") or "missing-api-key",
                self.base_url,
                self.timeout,
                self.max_retries,
                tuple(sorted((self.default_headers or {}).items())),
                self.organization,
                repr(sorted((self.default_query or {}).items())),
                repr(sorted((self.client_params or {}).items())),
            )
            pools = _POOLS.setdefault(asyncio.get_running_loop(), {})
            if settings not in pools:
                arguments: dict[str, Any] = {
                    "api_key": settings[0],
                    "base_url": self.base_url,
                    "timeout": self.timeout,
                    "max_retries": self.max_retries,
                    "default_headers": self.default_headers,
                    "organization": self.organization,
                    "default_query": self.default_query,
                }
                options = {**arguments, **(self.client_params or {})}
                pools[settings] = ClientPool(lambda: openai.AsyncOpenAI(**options))
            self._clients = pools[settings]
        return self._clients

    @asynccontextmanager
    async def open_stream(self, create: Callable[[openai.AsyncOpenAI], Any]) -> AsyncIterator[Any]:
        """The HTTP response of a streamed call, `create(client)` on a leased client; closed on the way
        out, so a cancel stops the model's stream at once. SDK errors become `ModelError`s."""
        with self.clients.lease() as client:
            response = await self.call(create(client).__aenter__())
            try:
                yield response
            finally:
                await response.close()

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_clients": None}
        return state

    def sampling(self, max_tokens_field: str) -> dict[str, Any]:
        """Temperature and the output cap, under this API's field names."""
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.max_output_tokens is not None:
            options[max_tokens_field] = self.max_output_tokens
        return options

    @property
    def idle_timeout(self) -> float:
        """How long a streamed reply may stay silent: `stream_idle_timeout`, else `timeout`."""
        return self.timeout if self.stream_idle_timeout is None else self.stream_idle_timeout

    def stream_timeout(self) -> openai.Timeout:
        """The SDK timeout of a streaming request: `timeout`, with the idle timeout for each read."""
        import openai

        return openai.Timeout(self.timeout, read=self.idle_timeout)

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
