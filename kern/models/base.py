"""The model interface the run loops use, and the error every adapter raises."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from kern.messages import Message, ToolCall


class ModelError(Exception):
    """A model call failed; the message names the cause (unreachable, 401, 429, 500, dropped stream...)."""

    def __init__(self, message: str, *, error_type: str = "ModelError") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class TextDelta:
    """A piece of the model's reply text."""

    text: str


@dataclass
class ModelResponse:
    """A whole model reply: its text, the tool calls it asks for, and token usage."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ResponseFormat:
    """A structured answer asked of the model: JSON that fits `schema` (named `name`), or with no schema
    any JSON object (JSON mode)."""

    name: str = "output"
    schema: dict[str, Any] | None = None
    strict: bool = True


@dataclass(frozen=True)
class CallOptions:
    """What a run asks of each model call besides the conversation and the tools."""

    response_format: ResponseFormat | None = None
    tool_choice: str | dict[str, Any] | None = None
    """"none", "auto", "required", or a function to call (`{"type": "function", "name": ...}`)."""


NO_OPTIONS = CallOptions()


class Model(BaseModel, ABC):
    """A chat model. Configuration is plain data so it can travel to a Ray actor; clients are made there."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    provider: ClassVar[str | None] = None
    """Who serves the model (Agno's `provider`, in `ModelRequest*` events)."""
    id: str

    @abstractmethod
    def stream(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> AsyncGenerator[TextDelta | ModelResponse]:
        """Yield text deltas as they arrive, then one `ModelResponse` with the whole reply.

        Closing the iterator (or cancelling the task consuming it) closes the HTTP stream at once.
        """

    @abstractmethod
    async def response(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> ModelResponse:
        """Make one non-streaming call."""
