"""`OpenAILike`: any server that speaks OpenAI's Chat Completions (vLLM, Ollama, LiteLLM, Groq...)."""

from __future__ import annotations

from pydantic import Field

from kern.models.openai.chat import OpenAIChat


class OpenAILike(OpenAIChat):
    """Chat Completions on the server `base_url` names, as Agno's `OpenAILike`: the model id and the key
    default to "not-provided" (most such servers want none), not to OpenAI's."""

    id: str = "not-provided"
    api_key: str | None = Field(default="not-provided", repr=False)
