"""What the simulated model answers: pure functions of the (normalised) conversation."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

STORY_WORDS: tuple[str, ...] = tuple(
    (
        "Once upon a time a small dragon named Ember lived in a quiet valley where she taught herself "
        "to write code. Every morning she opened her laptop, brewed a cup of smoky tea, and fixed one "
        "more bug in the village scheduler. The knights laughed at first, but when the mill, the bakery "
        "and the castle gates all ran on her tidy little programs, they asked her to teach them too. "
        "Ember smiled, wrote a test for every promise, and the valley never missed a sunrise again."
    ).split()
)
PROMPT_PROPERTY_HINTS: tuple[str, ...] = ("task", "message", "input", "query", "prompt")
DEFAULT_STRING = "example"
TOOL_RESULT_PREFIX_WORDS = 20


@dataclass(frozen=True)
class Message:
    """One conversation entry reduced to what the behaviour needs."""

    role: Role
    text: str


@dataclass(frozen=True)
class ToolSpec:
    """A function tool offered to the model."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCall:
    """A function call decided by the model; ``arguments`` is a JSON string."""

    name: str
    arguments: str
    call_id: str


@dataclass(frozen=True)
class Reply:
    """Either a text reply (``words``) or one turn of tool calls (``tool_calls``)."""

    words: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool_calls)

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class ToolChoice:
    """Normalised ``tool_choice``: ``mode`` plus an optional forced function name."""

    mode: Literal["auto", "none", "required"] = "auto"
    name: str | None = None


def new_id(prefix: str, separator: str = "_") -> str:
    """A random OpenAI-looking id such as ``call_3f2a...``."""
    return f"{prefix}{separator}{uuid.uuid4().hex[:24]}"


def count_tokens(text: str) -> int:
    """Approximate token count: whitespace-separated words."""
    return len(text.split())


def last_user_text(messages: list[Message]) -> str:
    """Text of the last user message (empty if there is none)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.text
    return ""


def _tool_results_after_last_user(messages: list[Message]) -> bool:
    for message in reversed(messages):
        if message.role == "tool":
            return True
        if message.role == "user":
            return False
    return False


def _last_tool_result(messages: list[Message]) -> str | None:
    for message in reversed(messages):
        if message.role == "tool":
            return message.text
    return None


def _mentions(text: str, name: str) -> bool:
    pattern = rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _schema_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def fit_value(name: str, schema: dict[str, Any], user_text: str) -> Any:
    """A value that fits ``schema`` for a property called ``name``."""
    if not isinstance(schema, dict):
        return DEFAULT_STRING
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next((o for o in options if isinstance(o, dict) and o.get("type") != "null"), options[0])
            return fit_value(name, chosen, user_text)
    kind = _schema_type(schema)
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null":
        return None
    if kind == "object":
        return fit_arguments(schema, user_text)
    if any(hint in name.lower() for hint in PROMPT_PROPERTY_HINTS):
        return user_text
    return DEFAULT_STRING


def fit_arguments(schema: dict[str, Any] | None, user_text: str) -> dict[str, Any]:
    """Arguments for an object schema: its required properties plus any property with an enum."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    return {
        name: fit_value(name, prop, user_text)
        for name, prop in properties.items()
        if name in required_names or (isinstance(prop, dict) and "enum" in prop)
    }


def choose_tools(tools: list[ToolSpec], user_text: str, choice: ToolChoice, parallel: bool) -> list[ToolSpec]:
    """Tools named in ``user_text`` (in offered order), else the first tool offered."""
    if choice.name is not None:
        chosen = [tool for tool in tools if tool.name == choice.name]
    else:
        chosen = [tool for tool in tools if _mentions(user_text, tool.name)] or tools[:1]
    return chosen[:1] if not parallel else chosen


def story_words(count: int) -> list[str]:
    """The first ``count`` words of the deterministic story, cycled."""
    return [STORY_WORDS[i % len(STORY_WORDS)] for i in range(count)]


def text_reply_words(messages: list[Message], reply_words: int, max_words: int | None = None) -> list[str]:
    """Words of a text reply, prefixed with "Based on <tool result>:" when tools have answered."""
    words: list[str] = []
    result = _last_tool_result(messages)
    if result is not None:
        result_words = result.split()[:TOOL_RESULT_PREFIX_WORDS] or ["the", "tool", "result"]
        words = ["Based", "on", *result_words[:-1], result_words[-1] + ":"]
    words.extend(story_words(reply_words))
    return words[:max_words] if max_words is not None else words


def decide(
    messages: list[Message],
    tools: list[ToolSpec],
    reply_words: int,
    *,
    max_words: int | None = None,
    tool_choice: ToolChoice | None = None,
    parallel_tool_calls: bool = True,
) -> Reply:
    """Decide the model's reply: tool calls while tools are offered and unanswered, else text."""
    choice = tool_choice or ToolChoice()
    wants_tools = bool(tools) and choice.mode != "none"
    if wants_tools and (choice.mode == "required" or not _tool_results_after_last_user(messages)):
        user_text = last_user_text(messages)
        chosen = choose_tools(tools, user_text, choice, parallel_tool_calls)
        if chosen:
            calls = tuple(
                ToolCall(
                    name=tool.name,
                    arguments=json.dumps(fit_arguments(tool.parameters, user_text)),
                    call_id=new_id("call"),
                )
                for tool in chosen
            )
            return Reply(tool_calls=calls)
    return Reply(words=tuple(text_reply_words(messages, reply_words, max_words)))


def chunk_words(words: list[str] | tuple[str, ...], per_chunk: int) -> list[str]:
    """Join words into deltas of ``per_chunk`` words; deltas after the first start with a space."""
    size = max(1, per_chunk)
    chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [chunk if i == 0 else " " + chunk for i, chunk in enumerate(chunks)]
