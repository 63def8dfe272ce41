"""`OpenAIResponses`: the OpenAI Responses API, streaming and not, with function calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from kern.messages import Message, ToolCall
from kern.models.base import NO_OPTIONS, CallOptions, ModelError, ModelResponse, TextDelta
from kern.models.openai.client import AGNO_MODEL_DEFAULTS, OpenAIModel
from kern.models.openai.converters import (
    responses_format,
    responses_tool_choice,
    split_instructions,
    to_responses_input,
    to_responses_tools,
)

if TYPE_CHECKING:
    from openai.types.responses import Response

logger = logging.getLogger(__name__)

RESPONSES_PARAMETERS = (
    "background", "include", "max_tool_calls", "metadata", "parallel_tool_calls", "top_p", "truncation",
    "user", "service_tier",
)  # fmt: skip
"""Responses API fields sent as Agno's `OpenAIResponses` sends them, when set (besides `temperature`,
`max_output_tokens`, `store`, `reasoning` and `text`, which `_request` builds)."""

SDK_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")
"""Keys of `request_params` that are options of the SDK call, not fields of the body."""

REASONING_MODELS = ("o3", "o4-mini", "gpt-5", "gpt-6")
"""Model ids Agno treats as reasoning models (their requests say `store`)."""

AGNO_DEFAULTS: dict[str, Any] = {
    **AGNO_MODEL_DEFAULTS,
    "vector_store_name": "knowledge_base", "http_client": None, "client": None, "async_client": None,
    "role_map": {"system": "developer", "user": "user", "assistant": "assistant", "tool": "tool"},
}  # fmt: skip
"""Agno 3.1.10's `OpenAIResponses` options kern does not take, with their defaults (see `AGNO_DEFAULTS` of
`OpenAIModel`)."""


class OpenAIResponses(OpenAIModel):
    """A model served through `POST /responses`, with Agno's request parameters: those that are set are
    sent as Agno sends them (`reasoning_effort` / `reasoning_summary` in `reasoning`, `verbosity` in
    `text` beside the output format, `request_params` over all of them, `extra_body` over the body).

    kern replays the whole conversation on each call: it never chains with `previous_response_id`, so
    `use_previous_response_id` changes nothing (function calls go without their item ids, which a stored
    reasoning model accepts without its reasoning items). `background=True` makes a non-streamed call
    poll the response until it is done, as Agno does; a streamed call ignores it, as Agno does.
    """

    AGNO_DEFAULTS = AGNO_DEFAULTS

    id: str = "gpt-5.2"
    include: list[str] | None = None
    max_tool_calls: int | None = None
    metadata: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    verbosity: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    store: bool | None = None
    use_previous_response_id: bool = True
    top_p: float | None = None
    truncation: str | None = None
    user: str | None = None
    service_tier: str | None = None
    background: bool | None = None
    background_poll_interval: float = Field(default=2.0, ge=0)
    background_max_wait: float = Field(default=600.0, ge=0)
    extra_headers: dict[str, str] | None = None
    extra_query: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None
    request_params: dict[str, Any] | None = None

    def _request(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions, stream: bool = False
    ) -> dict[str, Any]:
        """The SDK call's arguments: Agno's request parameters, those that are set. The body is plain JSON
        already, so it goes as `extra_body`, which the SDK sends as it is: its typed parameters are walked
        key by key against the API's TypedDicts, about 1 ms of CPU per call for a leader's tools and
        conversation (same bytes on the wire). The SDK puts `extra_body` over its typed parameters, so
        a user's `extra_body` goes over the body here."""
        instructions, rest = split_instructions(messages)
        body: dict[str, Any] = {"input": to_responses_input(rest)}
        if instructions:
            body["instructions"] = instructions
        body.update(self.sampling("max_output_tokens"))
        chosen = {name: getattr(self, name) for name in RESPONSES_PARAMETERS}
        body.update({name: value for name, value in chosen.items() if value is not None})
        store = True if self.background else self.store
        if self.id.startswith(REASONING_MODELS):
            store = store is not False
        if store is not None:
            body["store"] = store
        body["reasoning"] = self._reasoning()  # Agno sends it always, `{}` when nothing is set
        text: dict[str, Any] = {}
        if self.verbosity is not None:
            text["verbosity"] = self.verbosity
        if options.response_format is not None:
            text["format"] = responses_format(options.response_format, self.strict_output)
        if text:
            body["text"] = text
        offered = to_responses_tools(tools)
        if "deep-research" in self.id and not any(t.get("type") == "web_search_preview" for t in offered):
            offered.insert(0, {"type": "web_search_preview"})  # as Agno: these models need a search tool
        if offered:
            body["tools"] = offered
        if options.tool_choice is not None:
            body["tool_choice"] = responses_tool_choice(options.tool_choice)
        sdk: dict[str, Any] = {
            "extra_headers": self.extra_headers,
            "extra_query": self.extra_query,
            "extra_body": self.extra_body,
        }
        for name, value in (self.request_params or {}).items():
            (sdk if name in SDK_OPTIONS else body)[name] = value
        if stream and body.pop("background", None):
            logger.warning("background=True is ignored by a streamed call (as in Agno)")
        request = {name: value for name, value in sdk.items() if value is not None}
        request["extra_body"] = {**body, **(sdk["extra_body"] or {})}
        return {"model": self.id, **request}

    def _reasoning(self) -> dict[str, Any]:
        """The `reasoning` field: `reasoning`, with `reasoning_effort` and `reasoning_summary` over it."""
        reasoning = dict(self.reasoning or {})
        if self.reasoning_effort is not None:
            reasoning["effort"] = self.reasoning_effort
        if self.reasoning_summary is not None:
            reasoning["summary"] = self.reasoning_summary
        return reasoning

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> AsyncGenerator[TextDelta | ModelResponse]:
        """Stream the reply; the HTTP stream is closed in `finally`, so a cancel stops it at once."""
        from kern.models.openai.errors import broken_stream_error, dropped_stream_error
        from kern.models.openai.sse import STREAM_BROKEN, sse_json

        endpoint = self.describe_endpoint()
        request = {"timeout": self.stream_timeout(), **self._request(messages, tools, options, stream=True)}
        reply = ModelResponse()
        completed = False
        async with self.open_stream(
            lambda client: client.responses.with_streaming_response.create(**request, stream=True)
        ) as response:
            try:
                async for event in sse_json(response):
                    kind = event.get("type")
                    if kind == "response.output_text.delta":
                        delta = event["delta"]
                        reply.content += delta
                        yield TextDelta(delta)
                    elif kind == "response.output_item.done" and event["item"].get("type") == "function_call":
                        item = event["item"]
                        reply.tool_calls.append(
                            ToolCall(id=item["call_id"], name=item["name"], arguments=item["arguments"])
                        )
                    elif kind == "response.completed":
                        completed = True
                        usage = event["response"].get("usage")
                        if usage:
                            reply.input_tokens = usage["input_tokens"]
                            reply.output_tokens = usage["output_tokens"]
                    elif kind in ("response.failed", "error"):
                        raise ModelError(
                            f"Model {self.id!r} at {endpoint} reported a failure: {event}",
                            error_type="ModelResponseFailed",
                        )
            except STREAM_BROKEN as exc:
                raise broken_stream_error(
                    exc, model_id=self.id, endpoint=endpoint, idle_timeout=self.idle_timeout
                ) from exc
        if not completed:
            raise dropped_stream_error(model_id=self.id, endpoint=endpoint)
        yield reply

    async def response(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> ModelResponse:
        """One non-streaming call."""
        with self.clients.lease() as client:
            result = await self.call(client.responses.create(**self._request(messages, tools, options)))
        if result.status in ("queued", "in_progress"):
            result = await self._finished(result)
        if result.status in ("failed", "cancelled"):
            detail = result.error.message if result.error is not None else "no detail"
            raise ModelError(
                f"Model {self.id!r} at {self.describe_endpoint()} reported a failure: "
                f"response {result.id} {result.status} ({detail})",
                error_type="ModelResponseFailed",
            )
        reply = ModelResponse(content=result.output_text or "")
        for item in result.output:
            if item.type == "function_call":
                reply.tool_calls.append(ToolCall(id=item.call_id, name=item.name, arguments=item.arguments))
        if result.usage is not None:
            reply.input_tokens = result.usage.input_tokens
            reply.output_tokens = result.usage.output_tokens
        return reply

    async def _finished(self, result: Response) -> Response:
        """Poll a background response until it is done, every `background_poll_interval` s; past
        `background_max_wait` s, or if the run is cancelled, it is cancelled on the server too."""
        deadline = time.monotonic() + self.background_max_wait
        try:
            while True:
                result = await self.call(self.client.responses.retrieve(result.id))
                if result.status not in ("queued", "in_progress"):
                    return result
                if time.monotonic() >= deadline:
                    await self._cancel(result.id)
                    raise ModelError(
                        f"Model {self.id!r} at {self.describe_endpoint()}: background response {result.id} "
                        f"was still {result.status} after {self.background_max_wait:g} s "
                        "(background_max_wait); it is cancelled",
                        error_type="ModelTimeout",
                    )
                await asyncio.sleep(self.background_poll_interval)
        except asyncio.CancelledError:
            await self._cancel(result.id)
            raise

    async def _cancel(self, response_id: str) -> None:
        """Cancel a background response on the server, as far as it can be (the run ends either way)."""
        import openai

        with contextlib.suppress(openai.APIError):
            await self.client.responses.cancel(response_id)
