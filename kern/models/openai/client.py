"""Shared configuration of the OpenAI adapters and the lazily made SDK client (never pickled)."""

from __future__ import annotations

import os
from typing import Any

import openai
from pydantic import PrivateAttr, model_validator

from kern.models.base import Model


class OpenAIModel(Model):
    """Settings common to `OpenAIResponses` and `OpenAIChat`.

    `api_key` and `base_url` default to `OPENAI_API_KEY` / `OPENAI_BASE_URL` of the process that builds
    the model (so a driver's settings reach its actors); unset, the SDK reads them where the run executes.
    """

    api_key: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 2
    default_headers: dict[str, str] | None = None
    _client: openai.AsyncOpenAI | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_environment(self) -> OpenAIModel:
        if self.api_key is None:
            self.api_key = os.environ.get("OPENAI_API_KEY")
        if self.base_url is None:
            self.base_url = os.environ.get("OPENAI_BASE_URL")
        return self

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The async SDK client, made on first use in the process that runs the model."""
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key or os.environ.get("OPENAI_API_KEY") or "missing-api-key",
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
                default_headers=self.default_headers,
            )
        return self._client

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_client": None}
        return state

    def describe_endpoint(self) -> str:
        """Where this model's requests go, for error messages."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
