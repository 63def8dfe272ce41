"""OpenAI-shaped error responses, including the injected HTTP faults."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from kern.model_server.config import Fault

DEFAULT_RETRY_AFTER = 1.0


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    """The ``{"error": {...}}`` body the OpenAI API returns."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    """A 400 ``invalid_request_error``."""
    return JSONResponse(error_body(message, "invalid_request_error", code, param), status_code=400)


def fault_response(fault: Fault) -> JSONResponse:
    """The HTTP error answer for a ``429``, ``500`` or ``401`` fault."""
    if fault.kind == "429":
        retry_after = DEFAULT_RETRY_AFTER if fault.retry_after is None else fault.retry_after
        body = error_body(
            "Rate limit reached for requests (simulated by the kern model server). Please try again later.",
            "requests",
            "rate_limit_exceeded",
        )
        headers = {"retry-after": f"{retry_after:g}", "retry-after-ms": str(round(retry_after * 1000))}
        return JSONResponse(body, status_code=429, headers=headers)
    if fault.kind == "401":
        body = error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")
        return JSONResponse(body, status_code=401)
    if fault.kind == "500":
        body = error_body(
            "The server had an error while processing your request (simulated by the kern model server).",
            "server_error",
        )
        return JSONResponse(body, status_code=500)
    raise ValueError(f"fault kind {fault.kind!r} has no HTTP error response")
