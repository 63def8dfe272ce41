"""Chat Completions API through the real openai SDK over HTTP."""

from __future__ import annotations

import json

import openai

from kern.model_server import ModelServer
from kern.model_server.behaviour import story_words

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "mode": {"type": "string", "enum": ["fast", "deep"]}},
            "required": ["query"],
        },
    },
}
NOTIFY_TOOL = {
    "type": "function",
    "function": {
        "name": "notify",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "urgent": {"type": "boolean"}},
            "required": ["message", "urgent"],
        },
    },
}


def test_streaming_text_with_usage(client: openai.OpenAI, model_server: ModelServer) -> None:
    chunks = list(
        client.chat.completions.create(
            model="kern-mock",
            messages=[{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Tell a story"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 60
    assert "".join(content) == " ".join(story_words(60))
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 60)
    assert chunks[-1].usage.total_tokens == 65
    assert len({c.id for c in chunks}) == 1
    assert model_server.wait_for_request(lambda r: r.status == "completed", timeout=2).words_sent == 60


def test_streaming_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="kern-mock", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=4
        )
    )
    assert all(c.usage is None and c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Once upon a time"


def test_non_streaming_text(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="whatever",
        messages=[
            {"role": "developer", "content": "Rules."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        max_completion_tokens=10,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == " ".join(story_words(10))
    assert completion.usage is not None and completion.usage.completion_tokens == 10
    assert completion.model == "whatever"


def test_streaming_several_tool_calls(client: openai.OpenAI) -> None:
    prompt = "please notify me and lookup the docs"
    chunks = list(
        client.chat.completions.create(
            model="kern-mock",
            messages=[{"role": "user", "content": prompt}],
            tools=[LOOKUP_TOOL, NOTIFY_TOOL],
            stream=True,
        )
    )
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert [calls[i]["name"] for i in sorted(calls)] == ["lookup", "notify"]
    assert json.loads(calls[0]["arguments"]) == {"query": prompt, "mode": "fast"}
    assert json.loads(calls[1]["arguments"]) == {"message": prompt, "urgent": True}
    assert all(call["id"].startswith("call_") for call in calls.values())
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_non_streaming_tool_call_and_follow_up(client: openai.OpenAI) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "what is new?"}]
    first = client.chat.completions.create(
        model="kern-mock", messages=messages, tools=[LOOKUP_TOOL, NOTIFY_TOOL]
    )
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = first.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "Version 2 shipped today."})
    second = client.chat.completions.create(
        model="kern-mock", messages=messages, tools=[LOOKUP_TOOL, NOTIFY_TOOL], max_tokens=8
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Based on Version 2 shipped today.: Once upon"
    assert second.choices[0].message.tool_calls is None


def test_models_endpoint(client: openai.OpenAI, model_server: ModelServer) -> None:
    ids = [m.id for m in client.models.list()]
    assert "kern-mock" in ids
    assert client.models.retrieve("custom-model").id == "custom-model"
    assert [r.path for r in model_server.requests] == ["/v1/models", "/v1/models/custom-model"]
