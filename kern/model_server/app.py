"""The FastAPI application: model endpoints under ``/v1`` and test controls under ``/admin``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.responses import Response

from kern.model_server.chat import chat_producer
from kern.model_server.config import Fault, ModelServerConfig, RecordedRequest
from kern.model_server.errors import error_body
from kern.model_server.generation import install_log_filter
from kern.model_server.handling import handle_model_request
from kern.model_server.responses import responses_producer
from kern.model_server.state import ServerState

MODEL_IDS = ("kern-mock", "kern-mock-mini")


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "kern"}


def _validation_error(exc: ValidationError) -> JSONResponse:
    return JSONResponse({"detail": json.loads(exc.json(include_url=False))}, status_code=422)


def create_app(state: ServerState | None = None) -> FastAPI:
    """Build the ASGI app serving ``state`` (a fresh default state if omitted)."""
    install_log_filter()
    state = state or ServerState()
    app = FastAPI(title="kern local model server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.model_server = state

    def _record_simple(request: Request, status: str, code: int) -> None:
        request_id = state.start_request(request.url.path, request.method, None, None, request.headers, False)
        state.finish_request(request_id, status, code)

    @app.post("/v1/responses")
    async def create_response(request: Request) -> Response:
        return await handle_model_request(request, state, responses_producer)

    @app.post("/v1/chat/completions")
    async def create_chat_completion(request: Request) -> Response:
        return await handle_model_request(request, state, chat_producer)

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        _record_simple(request, "completed", 200)
        return {"object": "list", "data": [_model_entry(m) for m in MODEL_IDS]}

    @app.get("/v1/models/{model_id}")
    async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
        _record_simple(request, "completed", 200)
        return _model_entry(model_id)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(path: str, request: Request) -> JSONResponse:
        _record_simple(request, "error", 404)
        body = error_body(
            f"Unknown request URL: {request.method} /v1/{path}.", "invalid_request_error", "unknown_url"
        )
        return JSONResponse(body, status_code=404)

    @app.get("/admin/config")
    async def get_config() -> ModelServerConfig:
        return state.config

    @app.put("/admin/config", response_model=None)
    async def put_config(fields: dict[str, Any] = Body(...)) -> ModelServerConfig | JSONResponse:  # noqa: B008
        try:
            return state.configure(**fields)
        except ValidationError as exc:
            return _validation_error(exc)

    @app.get("/admin/faults")
    async def get_faults() -> list[Fault]:
        return state.faults

    @app.post("/admin/faults", status_code=201)
    async def post_fault(fault: Fault) -> list[Fault]:
        state.add_fault(fault)
        return state.faults

    @app.delete("/admin/faults", status_code=204)
    async def delete_faults() -> None:
        state.clear_faults()

    @app.get("/admin/requests")
    async def get_requests() -> list[RecordedRequest]:
        return state.requests

    @app.delete("/admin/requests", status_code=204)
    async def delete_requests() -> None:
        state.clear_requests()

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
