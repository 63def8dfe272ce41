"""Configuration, fault and request-log models of the local model server."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

HEADER_TOKENS_PER_SECOND = "x-kern-tokens-per-second"
HEADER_FIRST_TOKEN_DELAY = "x-kern-first-token-delay"
HEADER_REPLY_WORDS = "x-kern-reply-words"
HEADER_CHUNK_WORDS = "x-kern-chunk-words"
HEADER_INVALID_JSON = "x-kern-invalid-json"
BOOLEAN_VALUES = {"1": True, "true": True, "0": False, "false": False}


class ModelServerConfig(BaseModel):
    """How the simulated model behaves; every field can be changed at runtime."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    tokens_per_second: float = 200.0
    """Pacing of streamed words; 0 or negative means as fast as possible."""
    first_token_delay: float = Field(default=0.0, ge=0.0)
    """Seconds the model "thinks" after the stream has started, before the first token."""
    reply_words: int = Field(default=60, ge=0)
    """Length of a text reply in words (excluding the "Based on ..." prefix)."""
    chunk_words: int = Field(default=1, ge=1)
    """Words per streamed delta."""
    invalid_json: bool = False
    """Structured answers (``json_schema``, ``json_object``) deliberately do not fit, to test clients."""

    @field_validator("tokens_per_second", "first_token_delay")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class Fault(BaseModel):
    """A failure injected into the next ``times`` matching model requests (FIFO)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["429", "500", "401", "drop", "stall"]
    """``drop``: the connection is cut mid-reply; ``stall``: the reply stops coming but the connection
    stays open (until the client leaves), so a streamed reply goes silent after its headers."""
    times: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0.0)
    """Seconds sent in ``Retry-After`` for 429 (default 1)."""
    after_words: int = Field(default=5, ge=0)
    """For ``drop`` and ``stall``: words delivered first."""
    model: str | None = None
    """Only requests for this model id match; ``None`` matches every model request."""

    def matches(self, model: str | None) -> bool:
        """Whether a request for ``model`` consumes this fault."""
        return self.model is None or self.model == model


RequestStatus = Literal["in_progress", "completed", "disconnected", "fault", "error"]


class RecordedRequest(BaseModel):
    """One request to ``/v1/*`` as seen by the server."""

    id: str
    path: str
    method: str = "POST"
    model: str | None = None
    body: object = None
    headers: dict[str, str] = Field(default_factory=dict)
    stream: bool = False
    started_at: float
    finished_at: float | None = None
    status: RequestStatus = "in_progress"
    status_code: int | None = None
    fault: str | None = None
    words_sent: int = 0


class HeaderValueError(ValueError):
    """An ``x-kern-*`` override header carries an invalid value."""

    def __init__(self, header: str, value: str, expected: str) -> None:
        super().__init__(f"Invalid value {value!r} for header {header}: expected {expected}")
        self.header = header


def _parse_float(header: str, value: str, minimum: float | None) -> float:
    expected = "a finite number" if minimum is None else f"a finite number >= {minimum:g}"
    try:
        number = float(value)
    except ValueError:
        raise HeaderValueError(header, value, expected) from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise HeaderValueError(header, value, expected)
    return number


def _parse_int(header: str, value: str, minimum: int) -> int:
    expected = f"an integer >= {minimum}"
    try:
        number = int(value.strip())
    except ValueError:
        raise HeaderValueError(header, value, expected) from None
    if number < minimum:
        raise HeaderValueError(header, value, expected)
    return number


def _parse_bool(header: str, value: str) -> bool:
    parsed = BOOLEAN_VALUES.get(value.strip().lower())
    if parsed is None:
        raise HeaderValueError(header, value, "1, 0, true or false")
    return parsed


def apply_header_overrides(config: ModelServerConfig, headers: Mapping[str, str]) -> ModelServerConfig:
    """Return ``config`` with per-request ``x-kern-*`` header overrides applied.

    Raises ``HeaderValueError`` naming the first invalid header.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    update: dict[str, float | int | bool] = {}
    if (raw := lowered.get(HEADER_TOKENS_PER_SECOND)) is not None:
        update["tokens_per_second"] = _parse_float(HEADER_TOKENS_PER_SECOND, raw, None)
    if (raw := lowered.get(HEADER_FIRST_TOKEN_DELAY)) is not None:
        update["first_token_delay"] = _parse_float(HEADER_FIRST_TOKEN_DELAY, raw, 0.0)
    if (raw := lowered.get(HEADER_REPLY_WORDS)) is not None:
        update["reply_words"] = _parse_int(HEADER_REPLY_WORDS, raw, 0)
    if (raw := lowered.get(HEADER_CHUNK_WORDS)) is not None:
        update["chunk_words"] = _parse_int(HEADER_CHUNK_WORDS, raw, 1)
    if (raw := lowered.get(HEADER_INVALID_JSON)) is not None:
        update["invalid_json"] = _parse_bool(HEADER_INVALID_JSON, raw)
    return config.model_copy(update=update) if update else config
