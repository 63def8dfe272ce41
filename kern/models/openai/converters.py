"""Pure translation between kern messages/tools and the two OpenAI wire formats."""

from __future__ import annotations

from typing import Any

from kern.messages import Message
from kern.models.base import ResponseFormat


def split_instructions(messages: list[Message]) -> tuple[str | None, list[Message]]:
    """System messages become the Responses API's `instructions`; the rest stay in order."""
    system = [m.content for m in messages if m.role == "system" and m.content]
    return ("\n\n".join(system) or None), [m for m in messages if m.role != "system"]


def to_responses_input(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as Responses API input items."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": message.tool_call_id, "output": message.content}
            )
            continue
        if message.content or not message.tool_calls:
            items.append({"role": message.role, "content": message.content})
        items.extend(
            {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments}
            for call in message.tool_calls
        )
    return items


def to_responses_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tool definitions in the Responses API shape."""
    return [
        {
            "type": "function",
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool["parameters"],
            "strict": bool(tool.get("strict")),
        }
        for tool in tools
    ]


def to_chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the Chat Completions shape."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
        elif message.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def to_chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tool definitions in the Chat Completions shape."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool.get("description", ""),
                "parameters": tool["parameters"],
                **({"strict": True} if tool.get("strict") else {}),
            },
        }
        for tool in tools
    ]


def responses_format(chosen: ResponseFormat, strict: bool) -> dict[str, Any]:
    """`text.format` of a Responses request."""
    if chosen.schema is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "name": chosen.name,
        "schema": chosen.schema,
        "strict": strict and chosen.strict,
    }


def chat_format(chosen: ResponseFormat, strict: bool) -> dict[str, Any]:
    """`response_format` of a Chat Completions request."""
    if chosen.schema is None:
        return {"type": "json_object"}
    schema = {"name": chosen.name, "schema": chosen.schema, "strict": strict and chosen.strict}
    return {"type": "json_schema", "json_schema": schema}


def responses_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """`tool_choice` in the Responses shape; Agno's scripts give the Chat Completions one
    (`{"type": "function", "function": {"name": ...}}`), which is flattened."""
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "function", "name": choice["function"]["name"]}
    return choice
