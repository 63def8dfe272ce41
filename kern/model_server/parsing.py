"""Lenient parsing helpers shared by the Responses and Chat Completions endpoints."""

from __future__ import annotations

from typing import Any

from kern.model_server.behaviour import Message, Reply, ToolChoice, ToolSpec, decide
from kern.model_server.config import ModelServerConfig

SYSTEM_ROLES = ("system", "developer")


class RequestError(ValueError):
    """The request body is invalid; answered with an OpenAI-shaped 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def content_text(content: Any) -> str:
    """Plain text of a content value: a string, or a list of parts carrying ``text``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text", part.get("refusal"))
                if isinstance(text, str):
                    texts.append(text)
        return " ".join(texts)
    raise RequestError(f"Invalid content: expected a string or a list of content parts, got {content!r}.")


def tool_spec(name: Any, description: Any, parameters: Any, param: str) -> ToolSpec:
    """A validated ``ToolSpec``."""
    if not isinstance(name, str) or not name:
        raise RequestError("Missing required parameter: tool 'name'.", param)
    return ToolSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        parameters=parameters if isinstance(parameters, dict) else {},
    )


def parse_tool_choice(value: Any) -> ToolChoice:
    """``"auto" | "none" | "required"`` or a forced function (Responses or Chat shape)."""
    if value is None:
        return ToolChoice()
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise RequestError(f"Invalid value for 'tool_choice': {value!r}.", "tool_choice")
        return ToolChoice(mode=value)  # type: ignore[arg-type]
    if isinstance(value, dict):
        function = value.get("function")
        name = value.get("name") or (function.get("name") if isinstance(function, dict) else None)
        if isinstance(name, str):
            return ToolChoice(mode="required", name=name)
        mode = value.get("mode")
        if mode in ("auto", "required"):
            return ToolChoice(mode=mode)
        return ToolChoice()
    raise RequestError(f"Invalid value for 'tool_choice': {value!r}.", "tool_choice")


def optional_int(body: dict[str, Any], *keys: str) -> int | None:
    """The first present integer field among ``keys`` (validated to be >= 0)."""
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RequestError(f"Invalid '{key}': expected a non-negative integer.", key)
        return value
    return None


def decide_reply(
    body: dict[str, Any],
    config: ModelServerConfig,
    messages: list[Message],
    tools: list[ToolSpec],
    *max_tokens_keys: str,
) -> Reply:
    """The model's reply to a parsed request (either API), honouring its tool choice and token cap."""
    return decide(
        messages,
        tools,
        config.reply_words,
        max_words=optional_int(body, *max_tokens_keys),
        tool_choice=parse_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
    )
