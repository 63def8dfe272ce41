"""Conversation messages and tool calls, the vocabulary shared by run loops, models and storage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ToolCall(BaseModel):
    """A model's request to call one tool."""

    id: str
    """The call id the model assigned; the tool result must echo it."""
    name: str
    arguments: str = "{}"
    """The arguments as the JSON text the model produced."""


class Message(BaseModel):
    """One turn of a conversation, in a provider-neutral form."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tool calls an assistant message asked for."""
    tool_call_id: str | None = None
    """For a tool message: the id of the call it answers."""
    name: str | None = None
    """For a tool message: the tool's name."""
    from_history: bool = False
    """An earlier turn of the session, added to this run's context (`add_history_to_context`)."""
