"""The one place where `openai` SDK errors become kern `ModelError`s that name their cause."""

from __future__ import annotations

import httpx2
import openai

from kern.models.base import ModelError


def to_model_error(exc: Exception, *, model_id: str, endpoint: str) -> ModelError:
    """Translate an SDK (or transport) exception into a `ModelError` with a clear message."""
    where = f"model {model_id!r} at {endpoint}"
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"Timed out waiting for {where}", error_type="ModelTimeout")
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(f"Cannot reach {where}: {exc.__cause__ or exc}", error_type="ModelUnreachable")
    if isinstance(exc, openai.AuthenticationError):
        return ModelError(
            f"Authentication failed (401) for {where}: {_detail(exc)}", error_type="ModelAuthenticationError"
        )
    if isinstance(exc, openai.RateLimitError):
        return ModelError(
            f"Rate limited (429) by {where} after retries: {_detail(exc)}", error_type="ModelRateLimited"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelError(
            f"{where} answered HTTP {exc.status_code}: {_detail(exc)}", error_type="ModelHTTPError"
        )
    if isinstance(exc, openai.APIError):
        return ModelError(f"{where} failed: {exc}", error_type="ModelAPIError")
    return ModelError(f"{where} stream broke: {type(exc).__name__}: {exc}", error_type="ModelStreamError")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message


def broken_stream_error(exc: Exception, *, model_id: str, endpoint: str, idle_timeout: float) -> ModelError:
    """A stream that broke mid-way: stalled (nothing read for `idle_timeout` s) or dropped."""
    if isinstance(exc, httpx2.ReadTimeout):
        return ModelError(
            f"Model {model_id!r} at {endpoint} stalled: no token for {idle_timeout:g} s "
            "(the model's stream_idle_timeout)",
            error_type="ModelStalled",
        )
    return dropped_stream_error(model_id=model_id, endpoint=endpoint, cause=exc)


def dropped_stream_error(*, model_id: str, endpoint: str, cause: Exception | None = None) -> ModelError:
    """The stream ended without its final event: the connection was dropped mid-way."""
    detail = f": {cause}" if cause is not None else ""
    return ModelError(
        f"The stream from model {model_id!r} at {endpoint} ended before the reply was complete "
        f"(connection dropped){detail}",
        error_type="ModelStreamError",
    )
