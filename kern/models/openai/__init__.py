"""OpenAI models through the official `openai` SDK: the Responses API and Chat Completions."""

from kern.models.openai.chat import OpenAIChat
from kern.models.openai.responses import OpenAIResponses

__all__ = ["OpenAIChat", "OpenAIResponses"]
