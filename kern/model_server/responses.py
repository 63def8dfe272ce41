"""OpenAI Responses API (``POST /v1/responses``), streaming and non-streaming."""

from __future__ import annotations

import json
import time
from typing import Any

from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from pydantic import BaseModel

from kern.model_server.behaviour import Reply, ToolSpec, chunk_words, count_tokens, new_id
from kern.model_server.config import ModelServerConfig
from kern.model_server.generation import SSE_HEADERS, Generation, Producer, sse
from kern.model_server.output_format import OutputFormat, responses_format
from kern.model_server.parsing import decide_reply, parse_tool_choice
from kern.model_server.responses_input import parse_messages, parse_tools


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


class _ResponseBuilder:
    """Builds the ``Response`` object and its items for one request."""

    def __init__(
        self,
        body: dict[str, Any],
        tools: list[ToolSpec],
        output: OutputFormat,
        reply: Reply,
        input_tokens: int,
    ) -> None:
        self.body = body
        self.tools = tools
        self.output = output
        self.reply = reply
        self.input_tokens = input_tokens
        self.id = new_id("resp")
        self.message_id = new_id("msg")
        self.call_ids = [new_id("fc") for _ in reply.tool_calls]
        self.created_at = int(time.time())

    def response(self, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        choice = parse_tool_choice(self.body.get("tool_choice"))
        tool_choice: Any = {"type": "function", "name": choice.name} if choice.name else choice.mode
        data: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": str(self.body.get("model") or "kern-mock"),
            "output": output or [],
            "parallel_tool_calls": self.body.get("parallel_tool_calls") is not False,
            "tool_choice": tool_choice,
            "tools": [
                {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
                for t in self.tools
            ],
            "instructions": self.body.get("instructions")
            if isinstance(self.body.get("instructions"), str)
            else None,
            "temperature": self.body.get("temperature"),
            "top_p": self.body.get("top_p"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "previous_response_id": self.body.get("previous_response_id"),
            "metadata": self.body.get("metadata") or {},
            "text": {"format": self.output.echo},
            "error": None,
            "incomplete_details": None,
            "usage": None,
        }
        if status == "completed":
            data["completed_at"] = time.time()
            data["usage"] = self.usage()
        return data

    def usage(self) -> dict[str, Any]:
        if self.reply.is_tool_call:
            output = sum(count_tokens(call.arguments) + 1 for call in self.reply.tool_calls)
        else:
            output = len(self.reply.words)
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + output,
        }

    def text_part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def message(self, status: str, text: str | None) -> dict[str, Any]:
        content = [] if text is None else [self.text_part(text)]
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def function_call(self, index: int, status: str, arguments: str) -> dict[str, Any]:
        call = self.reply.tool_calls[index]
        return {
            "id": self.call_ids[index],
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": arguments,
            "status": status,
        }

    def final_output(self) -> list[dict[str, Any]]:
        if self.reply.is_tool_call:
            return [
                self.function_call(i, "completed", call.arguments)
                for i, call in enumerate(self.reply.tool_calls)
            ]
        return [self.message("completed", self.reply.text)]

    def final(self) -> dict[str, Any]:
        return _dump(Response.model_validate(self.response("completed", self.final_output())))


class _EventStream:
    """Sends typed Responses stream events with increasing ``sequence_number``."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self.sequence = 0

    def encode(self, event_type: type[BaseModel], **fields: Any) -> bytes:
        event = event_type.model_validate({**fields, "sequence_number": self.sequence})
        self.sequence += 1
        data = _dump(event)
        return sse(json.dumps(data), data["type"])

    async def send(self, event_type: type[BaseModel], **fields: Any) -> None:
        await self.generation.emit(self.encode(event_type, **fields))


async def _stream(gen: Generation, b: _ResponseBuilder) -> None:
    events = _EventStream(gen)
    await gen.start(200, SSE_HEADERS)
    await events.send(ResponseCreatedEvent, type="response.created", response=b.response("in_progress"))
    await events.send(
        ResponseInProgressEvent, type="response.in_progress", response=b.response("in_progress")
    )
    await gen.think()
    if b.reply.is_tool_call:
        for i, call in enumerate(b.reply.tool_calls):
            item_id = b.call_ids[i]
            added = b.function_call(i, "in_progress", "")
            await events.send(
                ResponseOutputItemAddedEvent, type="response.output_item.added", output_index=i, item=added
            )
            await gen.pace(1)
            await events.send(
                ResponseFunctionCallArgumentsDeltaEvent,
                type="response.function_call_arguments.delta",
                item_id=item_id,
                output_index=i,
                delta=call.arguments,
            )
            await events.send(
                ResponseFunctionCallArgumentsDoneEvent,
                type="response.function_call_arguments.done",
                item_id=item_id,
                output_index=i,
                name=call.name,
                arguments=call.arguments,
            )
            done = b.function_call(i, "completed", call.arguments)
            await events.send(
                ResponseOutputItemDoneEvent, type="response.output_item.done", output_index=i, item=done
            )
    else:
        ids = {"item_id": b.message_id, "output_index": 0}
        await events.send(
            ResponseOutputItemAddedEvent,
            type="response.output_item.added",
            output_index=0,
            item=b.message("in_progress", None),
        )
        await events.send(
            ResponseContentPartAddedEvent,
            type="response.content_part.added",
            content_index=0,
            part=b.text_part(""),
            **ids,
        )
        for delta in chunk_words(b.reply.words, gen.config.chunk_words):
            data = events.encode(
                ResponseTextDeltaEvent,
                type="response.output_text.delta",
                content_index=0,
                delta=delta,
                logprobs=[],
                **ids,
            )
            await gen.emit_words(data, len(delta.split()))
        text = b.reply.text
        await events.send(
            ResponseTextDoneEvent,
            type="response.output_text.done",
            content_index=0,
            text=text,
            logprobs=[],
            **ids,
        )
        await events.send(
            ResponseContentPartDoneEvent,
            type="response.content_part.done",
            content_index=0,
            part=b.text_part(text),
            **ids,
        )
        await events.send(
            ResponseOutputItemDoneEvent,
            type="response.output_item.done",
            output_index=0,
            item=b.message("completed", text),
        )
    await gen.finish(events.encode(ResponseCompletedEvent, type="response.completed", response=b.final()))


def responses_producer(body: dict[str, Any], config: ModelServerConfig) -> Producer:
    """Parse a Responses request and return the coroutine that answers it."""
    messages = parse_messages(body)
    tools = parse_tools(body)
    output = responses_format(body)
    reply = decide_reply(body, config, messages, tools, "max_output_tokens")
    reply = output.shape(reply, config.invalid_json)
    builder = _ResponseBuilder(body, tools, output, reply, sum(count_tokens(m.text) for m in messages))
    streaming = bool(body.get("stream"))

    async def produce(gen: Generation) -> None:
        await (_stream(gen, builder) if streaming else gen.respond_whole(builder.reply, builder.final))

    return produce
