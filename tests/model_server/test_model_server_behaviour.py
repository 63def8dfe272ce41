"""Pure behaviour: argument fitting, tool choice, text replies, chunking, header overrides."""

from __future__ import annotations

import json

import pytest

from kern.model_server.behaviour import (
    Message,
    ToolChoice,
    ToolSpec,
    chunk_words,
    decide,
    fit_arguments,
    story_words,
)
from kern.model_server.config import HeaderValueError, ModelServerConfig, apply_header_overrides

SCHEMA = {
    "type": "object",
    "properties": {
        "task": {"type": "string"},
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
        "ratio": {"type": "number"},
        "verbose": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {
            "type": "object",
            "properties": {"depth": {"type": "integer"}, "note": {"type": "string"}},
            "required": ["depth"],
        },
        "maybe": {"type": ["string", "null"]},
        "optional_text": {"type": "string"},
    },
    "required": ["task", "city", "days", "ratio", "verbose", "tags", "options", "maybe"],
}


def test_fit_arguments_follows_schema() -> None:
    args = fit_arguments(SCHEMA, "plan the trip")
    assert args == {
        "task": "plan the trip",
        "city": "example",
        "unit": "celsius",
        "days": 1,
        "ratio": 1,
        "verbose": True,
        "tags": [],
        "options": {"depth": 1},
        "maybe": "example",
    }


def test_tools_named_in_prompt_are_all_called_in_offered_order() -> None:
    tools = [ToolSpec("search"), ToolSpec("calculator"), ToolSpec("weather")]
    messages = [Message("user", "use weather and then search, not research")]
    reply = decide(messages, tools, 10)
    assert [call.name for call in reply.tool_calls] == ["search", "weather"]
    assert len({call.call_id for call in reply.tool_calls}) == 2


def test_first_tool_when_none_named_and_text_after_tool_result() -> None:
    tools = [ToolSpec("alpha"), ToolSpec("beta")]
    assert [c.name for c in decide([Message("user", "hi")], tools, 5).tool_calls] == ["alpha"]
    answered = [Message("user", "hi"), Message("assistant", "alpha {}"), Message("tool", "the answer is 42")]
    reply = decide(answered, tools, 3)
    assert not reply.is_tool_call
    assert reply.text == "Based on the answer is 42: Once upon a"


def test_tool_choice_variants() -> None:
    tools = [ToolSpec("alpha"), ToolSpec("beta")]
    user = [Message("user", "alpha beta")]
    assert not decide(user, tools, 2, tool_choice=ToolChoice(mode="none")).is_tool_call
    forced = decide(user, tools, 2, tool_choice=ToolChoice(mode="required", name="beta"))
    assert [c.name for c in forced.tool_calls] == ["beta"]
    single = decide(user, tools, 2, parallel_tool_calls=False)
    assert [c.name for c in single.tool_calls] == ["alpha"]
    assert json.loads(single.tool_calls[0].arguments) == {}


def test_text_reply_length_cap_and_chunks() -> None:
    words = decide([Message("user", "tell me")], [], 25).words
    assert list(words) == story_words(25)
    assert len(decide([Message("user", "x")], [], 25, max_words=7).words) == 7
    assert chunk_words(["a", "b", "c", "d", "e"], 2) == ["a b", " c d", " e"]
    assert "".join(chunk_words(story_words(100), 3)) == " ".join(story_words(100))


def test_header_overrides() -> None:
    base = ModelServerConfig()
    out = apply_header_overrides(
        base,
        {"X-Kern-Tokens-Per-Second": "0", "x-kern-first-token-delay": "0.5", "x-kern-reply-words": "7"},
    )
    assert (out.tokens_per_second, out.first_token_delay, out.reply_words) == (0, 0.5, 7)
    assert apply_header_overrides(base, {"other": "1"}) is base
    for header, value in [
        ("x-kern-reply-words", "abc"),
        ("x-kern-reply-words", "-1"),
        ("x-kern-first-token-delay", "-1"),
        ("x-kern-tokens-per-second", "nan"),
    ]:
        with pytest.raises(HeaderValueError) as info:
            apply_header_overrides(base, {header: value})
        assert info.value.header == header
