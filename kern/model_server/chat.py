"""OpenAI Chat Completions API (``POST /v1/chat/completions``), streaming and non-streaming."""

from __future__ import annotations

import json
import time
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from kern.model_server.behaviour import Message, Reply, ToolSpec, chunk_words, count_tokens, new_id
from kern.model_server.config import ModelServerConfig
from kern.model_server.generation import SSE_HEADERS, Generation, Producer, sse
from kern.model_server.output_format import chat_format
from kern.model_server.parsing import (
    SYSTEM_ROLES,
    RequestError,
    content_text,
    decide_reply,
    tool_spec,
)

SYSTEM_FINGERPRINT = "fp_kern_mock"


def parse_messages(body: dict[str, Any]) -> list[Message]:
    """``messages`` (system/developer/user/assistant with tool_calls/tool) as a flat conversation."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("Missing required parameter: 'messages'.", "messages")
    messages: list[Message] = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RequestError(f"Invalid message at index {position}.", f"messages[{position}]")
        role = item.get("role")
        text = content_text(item.get("content"))
        if role in SYSTEM_ROLES:
            messages.append(Message("system", text))
        elif role == "user":
            messages.append(Message("user", text))
        elif role == "assistant":
            calls = item.get("tool_calls") or []
            names = [c.get("function", {}).get("name", "") for c in calls if isinstance(c, dict)]
            messages.append(Message("assistant", " ".join([text, *names]).strip()))
        elif role in ("tool", "function"):
            messages.append(Message("tool", text))
        else:
            raise RequestError(
                f"Invalid role {role!r} at messages[{position}].", f"messages[{position}].role"
            )
    return messages


def parse_tools(body: dict[str, Any]) -> list[ToolSpec]:
    """Function tools (``{"type": "function", "function": {"name", "description", "parameters"}}``)."""
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("Invalid 'tools': expected a list.", "tools")
    specs = []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            raise RequestError(f"Invalid tool at index {i}: missing 'function'.", f"tools[{i}]")
        specs.append(
            tool_spec(
                function.get("name"), function.get("description"), function.get("parameters"), f"tools[{i}]"
            )
        )
    return specs


class _ChatBuilder:
    """Builds chunks and the final completion for one request."""

    def __init__(self, body: dict[str, Any], reply: Reply, prompt_tokens: int) -> None:
        self.body = body
        self.reply = reply
        self.prompt_tokens = prompt_tokens
        self.id = new_id("chatcmpl", "-")
        self.created = int(time.time())
        self.model = str(body.get("model") or "kern-mock")
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.reply.is_tool_call else "stop"

    def usage(self) -> dict[str, Any]:
        if self.reply.is_tool_call:
            completion = sum(count_tokens(call.arguments) + 1 for call in self.reply.tool_calls)
        else:
            completion = len(self.reply.words)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            data["usage"] = usage
        ChatCompletionChunk.model_validate(data)
        return sse(json.dumps(data))

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return self.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        if self.reply.is_tool_call:
            message["tool_calls"] = [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.reply.tool_calls
            ]
        else:
            message["content"] = self.reply.text
        data = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
            ],
            "usage": self.usage(),
        }
        ChatCompletion.model_validate(data)
        return data


async def _stream(gen: Generation, b: _ChatBuilder) -> None:
    await gen.start(200, SSE_HEADERS)
    await gen.emit(b.delta({"role": "assistant", "content": "", "refusal": None}))
    await gen.think()
    for i, call in enumerate(b.reply.tool_calls):
        head = {
            "index": i,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        await gen.emit(b.delta({"tool_calls": [head]}))
        await gen.pace(1)
        await gen.emit(b.delta({"tool_calls": [{"index": i, "function": {"arguments": call.arguments}}]}))
    for delta in chunk_words(b.reply.words, gen.config.chunk_words):
        await gen.emit_words(b.delta({"content": delta}), len(delta.split()))
    await gen.check_fault(final=True)
    tail = b.delta({}, b.finish_reason)
    if b.include_usage:
        tail += b.chunk([], b.usage())
    await gen.emit(tail)
    await gen.finish(b"data: [DONE]\n\n")


def chat_producer(body: dict[str, Any], config: ModelServerConfig) -> Producer:
    """Parse a Chat Completions request and return the coroutine that answers it."""
    messages = parse_messages(body)
    tools = parse_tools(body)
    output = chat_format(body)
    reply = decide_reply(body, config, messages, tools, "max_completion_tokens", "max_tokens")
    reply = output.shape(reply, config.invalid_json)
    builder = _ChatBuilder(body, reply, sum(count_tokens(m.text) for m in messages))
    streaming = bool(body.get("stream"))

    async def produce(gen: Generation) -> None:
        await (_stream(gen, builder) if streaming else gen.respond_whole(builder.reply, builder.completion))

    return produce
