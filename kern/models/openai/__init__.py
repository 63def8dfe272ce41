"""OpenAI models through the official `openai` SDK: the Responses API and Chat Completions, and any
server that speaks Chat Completions (`OpenAILike`)."""

from kern.models.openai.chat import OpenAIChat
from kern.models.openai.like import OpenAILike
from kern.models.openai.responses import OpenAIResponses

__all__ = ["OpenAIChat", "OpenAILike", "OpenAIResponses"]
