"""The request flow shared by the model endpoints: log, overrides, faults, generation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from kern.model_server.config import HeaderValueError, ModelServerConfig, apply_header_overrides
from kern.model_server.errors import fault_response, invalid_request
from kern.model_server.generation import GenerationResponse, Producer
from kern.model_server.parsing import RequestError
from kern.model_server.state import ServerState

ProducerFactory = Callable[[dict[str, Any], ModelServerConfig], Producer]


async def handle_model_request(request: Request, state: ServerState, factory: ProducerFactory) -> Response:
    """Record the request, apply overrides and faults, then run the generation."""
    try:
        body: Any = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    valid = isinstance(body, dict)
    model = body.get("model") if valid else None
    request_id = state.start_request(
        request.url.path,
        request.method,
        model if isinstance(model, str) else None,
        body,
        request.headers,
        bool(body.get("stream")) if valid else False,
    )
    if not valid:
        state.finish_request(request_id, "error", 400)
        return invalid_request("The request body must be a JSON object.", code="invalid_json")
    try:
        config = apply_header_overrides(state.config, request.headers)
        producer = factory(body, config)
    except HeaderValueError as exc:
        state.finish_request(request_id, "error", 400)
        return invalid_request(str(exc), param=exc.header, code="invalid_header")
    except RequestError as exc:
        state.finish_request(request_id, "error", 400)
        return invalid_request(str(exc), param=exc.param, code=exc.code)
    fault = state.take_fault(model if isinstance(model, str) else None)
    if fault is not None and fault.kind not in ("drop", "stall"):
        response = fault_response(fault)
        state.finish_request(request_id, "fault", response.status_code, fault=fault.kind)
        return response
    return GenerationResponse(state, request_id, config, producer, fault)
