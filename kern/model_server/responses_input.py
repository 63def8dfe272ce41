"""Reading a Responses API request (``instructions``, ``input`` items, ``tools``) into a conversation."""

from __future__ import annotations

from typing import Any

from kern.model_server.behaviour import Message, ToolSpec
from kern.model_server.parsing import SYSTEM_ROLES, RequestError, content_text, tool_spec


def parse_messages(body: dict[str, Any]) -> list[Message]:
    """``instructions`` + ``input`` (a string or a list of items) as a flat conversation."""
    messages: list[Message] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append(Message("system", instructions))
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append(Message("user", raw))
    elif isinstance(raw, list):
        for position, item in enumerate(raw):
            messages.extend(_parse_item(item, position))
    elif raw is not None or body.get("previous_response_id") is None:
        raise RequestError("Missing required parameter: 'input'.", "input")
    return messages


def _parse_item(item: Any, position: int) -> list[Message]:
    if not isinstance(item, dict):
        raise RequestError(
            f"Invalid input item at index {position}: expected an object.", f"input[{position}]"
        )
    kind = item.get("type")
    if kind == "function_call_output":
        return [Message("tool", content_text(item.get("output")))]
    if kind == "function_call":
        return [Message("assistant", f"{item.get('name', '')} {item.get('arguments', '')}")]
    if kind not in (None, "message"):
        return []  # reasoning and other item types do not influence the reply
    role = item.get("role", "user")
    if role in SYSTEM_ROLES:
        role = "system"
    if role not in ("system", "user", "assistant"):
        raise RequestError(f"Invalid role {role!r} at input[{position}].", f"input[{position}].role")
    return [Message(role, content_text(item.get("content")))]


def parse_tools(body: dict[str, Any]) -> list[ToolSpec]:
    """Function tools (``{"type": "function", "name", "description", "parameters"}``)."""
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("Invalid 'tools': expected a list.", "tools")
    return [
        tool_spec(tool.get("name"), tool.get("description"), tool.get("parameters"), f"tools[{i}]")
        for i, tool in enumerate(raw)
        if isinstance(tool, dict) and tool.get("type") == "function"
    ]
