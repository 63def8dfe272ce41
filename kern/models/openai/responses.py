"""`OpenAIResponses`: the OpenAI Responses API, streaming and not, with function calls."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from kern.messages import Message, ToolCall
from kern.models.base import NO_OPTIONS, CallOptions, ModelError, ModelResponse, TextDelta
from kern.models.openai.client import OpenAIModel
from kern.models.openai.converters import (
    responses_format,
    responses_tool_choice,
    split_instructions,
    to_responses_input,
    to_responses_tools,
)


class OpenAIResponses(OpenAIModel):
    """A model served through `POST /responses`."""

    id: str = "gpt-5.2"

    def _request(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions
    ) -> dict[str, Any]:
        """The SDK call's arguments. The body is plain JSON already, so it goes as `extra_body`, which the
        SDK sends as it is: its typed parameters are walked key by key against the API's TypedDicts, about
        1 ms of CPU per call for a leader's tools and conversation (same bytes on the wire)."""
        instructions, rest = split_instructions(messages)
        body: dict[str, Any] = {"input": to_responses_input(rest)}
        if instructions:
            body["instructions"] = instructions
        if tools:
            body["tools"] = to_responses_tools(tools)
        if options.tool_choice is not None:
            body["tool_choice"] = responses_tool_choice(options.tool_choice)
        if options.response_format is not None:
            body["text"] = {"format": responses_format(options.response_format, self.strict_output)}
        return {"model": self.id, "extra_body": {**body, **self.sampling("max_output_tokens")}}

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> AsyncGenerator[TextDelta | ModelResponse]:
        """Stream the reply; the HTTP stream is closed in `finally`, so a cancel stops it at once."""
        from kern.models.openai.errors import broken_stream_error, dropped_stream_error
        from kern.models.openai.sse import STREAM_BROKEN, sse_json

        endpoint = self.describe_endpoint()
        request = self.client.responses.with_streaming_response.create(
            **self._request(messages, tools, options), stream=True, timeout=self.stream_timeout()
        )
        response = await self.call(request.__aenter__())
        reply = ModelResponse()
        completed = False
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
        finally:
            await response.close()
        if not completed:
            raise dropped_stream_error(model_id=self.id, endpoint=endpoint)
        yield reply

    async def response(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> ModelResponse:
        """One non-streaming call."""
        result = await self.call(self.client.responses.create(**self._request(messages, tools, options)))
        reply = ModelResponse(content=result.output_text or "")
        for item in result.output:
            if item.type == "function_call":
                reply.tool_calls.append(ToolCall(id=item.call_id, name=item.name, arguments=item.arguments))
        if result.usage is not None:
            reply.input_tokens = result.usage.input_tokens
            reply.output_tokens = result.usage.output_tokens
        return reply
