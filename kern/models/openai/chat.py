"""`OpenAIChat`: Chat Completions, streaming and not, with function calls."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any, ClassVar

from kern.messages import Message, ToolCall
from kern.models.base import NO_OPTIONS, CallOptions, ModelError, ModelResponse, TextDelta
from kern.models.openai.client import AGNO_MODEL_DEFAULTS, OpenAIModel
from kern.models.openai.converters import chat_format, to_chat_messages, to_chat_tools

CHAT_PARAMETERS = (
    "max_tokens", "max_completion_tokens", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty",
    "logit_bias", "user", "reasoning_effort", "service_tier", "store", "metadata", "extra_headers",
    "extra_query", "extra_body", "verbosity", "logprobs", "top_logprobs",
)  # fmt: skip
"""Chat Completions parameters passed through as Agno's `OpenAIChat` passes them, when set."""


AGNO_DEFAULTS: dict[str, Any] = {
    **AGNO_MODEL_DEFAULTS, "collect_metrics_on_completion": False, "modalities": None, "audio": None,
    "role_map": None, "http_client": None, "client": None, "async_client": None,
}  # fmt: skip
"""Agno 3.1.10's `OpenAIChat` options kern does not take, with their defaults (see `OpenAIModel`)."""


class OpenAIChat(OpenAIModel):
    """A model served through `POST /chat/completions`."""

    id: str = "gpt-5.2"
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    user: str | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    extra_headers: dict[str, str] | None = None
    extra_query: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    verbosity: str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    request_params: dict[str, Any] | None = None
    """Sent over everything else, as Agno sends it."""
    AGNO_DEFAULTS: ClassVar[Mapping[str, Any] | None] = AGNO_DEFAULTS

    def _request(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions
    ) -> dict[str, Any]:
        """The SDK call's arguments: Agno's request parameters, those that are set."""
        request: dict[str, Any] = {"model": self.id, "messages": to_chat_messages(messages)}
        if tools:
            request["tools"] = to_chat_tools(tools)
        if options.tool_choice is not None:
            request["tool_choice"] = options.tool_choice
        if options.response_format is not None:
            request["response_format"] = chat_format(options.response_format, self.strict_output)
        request.update(self.sampling("max_completion_tokens"))
        chosen = {name: getattr(self, name) for name in CHAT_PARAMETERS}
        request.update({name: value for name, value in chosen.items() if value is not None})
        request.update(self.request_params or {})
        return request

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> AsyncGenerator[TextDelta | ModelResponse]:
        """Stream the reply; the HTTP stream is closed in `finally`, so a cancel stops it at once."""
        from kern.models.openai.errors import broken_stream_error, dropped_stream_error
        from kern.models.openai.sse import STREAM_BROKEN, sse_json

        endpoint = self.describe_endpoint()
        request = self._request(messages, tools, options)
        reply = ModelResponse()
        calls: dict[int, ToolCall] = {}
        finished = False
        async with self.open_stream(
            lambda client: client.chat.completions.with_streaming_response.create(
                **request, stream=True, stream_options={"include_usage": True}, timeout=self.stream_timeout()
            )
        ) as response:
            try:
                async for chunk in sse_json(response):
                    if chunk.get("error"):
                        raise ModelError(
                            f"Model {self.id!r} at {endpoint} reported a failure: {chunk['error']}",
                            error_type="ModelResponseFailed",
                        )
                    usage = chunk.get("usage")
                    if usage:
                        reply.input_tokens = usage["prompt_tokens"]
                        reply.output_tokens = usage["completion_tokens"]
                    for choice in chunk.get("choices") or ():
                        finished = finished or choice.get("finish_reason") is not None
                        delta = choice.get("delta") or {}
                        text = delta.get("content")
                        if text:
                            reply.content += text
                            yield TextDelta(text)
                        for part in delta.get("tool_calls") or ():
                            call = calls.setdefault(part["index"], ToolCall(id="", name="", arguments=""))
                            call.id = part.get("id") or call.id
                            function = part.get("function") or {}
                            call.name += function.get("name") or ""
                            call.arguments += function.get("arguments") or ""
            except STREAM_BROKEN as exc:
                raise broken_stream_error(
                    exc, model_id=self.id, endpoint=endpoint, idle_timeout=self.idle_timeout
                ) from exc
        if not finished:
            raise dropped_stream_error(model_id=self.id, endpoint=endpoint)
        reply.tool_calls = [calls[index] for index in sorted(calls)]
        yield reply

    async def response(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> ModelResponse:
        """One non-streaming call."""
        with self.clients.lease() as client:
            result = await self.call(
                client.chat.completions.create(**self._request(messages, tools, options))
            )
        message = result.choices[0].message
        reply = ModelResponse(content=message.content or "")
        for call in message.tool_calls or []:
            if call.type == "function":
                reply.tool_calls.append(
                    ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
                )
        if result.usage is not None:
            reply.input_tokens = result.usage.prompt_tokens
            reply.output_tokens = result.usage.completion_tokens
        return reply
