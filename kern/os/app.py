"""The FastAPI app of an `AgentOS`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from kern.os.agentos import AgentOS
from kern.os.auth import UNAUTHORIZED, require_key, security_key
from kern.os.config import ConfigResponse, os_config
from kern.os.cors import allow_origins
from kern.os.limits import BodySizeLimit, max_request_bytes
from kern.os.runs import component_router
from kern.os.schemas import HealthResponse
from kern.os.sessions import session_router

TITLE = "kern AgentOS"
DESCRIPTION = "Agents and teams running as Ray actors, behind Agno-compatible AgentOS routes."
logger = logging.getLogger("kern.os")
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_app(agent_os: AgentOS) -> FastAPI:
    """Routes for the agents, teams and sessions of `agent_os` (OpenAPI at /openapi.json, docs at /docs),
    on its `base_app` if it has one; with `OS_SECURITY_KEY` set, all but /health require it as a bearer
    token (`kern.os.auth`). Request bodies are capped (`kern.os.limits`), CORS is answered
    (`kern.os.cors`); on an app of its own, an unexpected error answers 500 with no traceback."""
    key = security_key()
    guarded = [Depends(require_key(key))] if key else []
    unauthorized = UNAUTHORIZED if key else {}
    app = agent_os.base_app or FastAPI(
        title=agent_os.name or TITLE,
        description=agent_os.description or DESCRIPTION,
        version=agent_os.version or "1.0.0",
    )
    lifespans = [_given_agent_os(agent_os.lifespan, agent_os)] if agent_os.lifespan else []
    if agent_os.base_app is not None:
        lifespans.append(app.router.lifespan_context)
    if lifespans:
        app.router.lifespan_context = _nested(lifespans)
    app.state.agent_os = agent_os

    if agent_os.base_app is None:

        @app.exception_handler(Exception)
        async def internal_error(request: Request, exc: Exception) -> JSONResponse:
            logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error: the server log has the details"}, status_code=500)

    add = partial(_add_router, app, agent_os)
    add(_health_router(), [], {})
    for router in (
        _config_router(agent_os),
        component_router(agent_os, "agent"),
        component_router(agent_os, "team"),
        session_router(agent_os),
    ):
        add(router, guarded, unauthorized)
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes())
    allow_origins(app, agent_os.cors_allowed_origins)
    return app


def _health_router() -> APIRouter:
    router = APIRouter(tags=["Health"])
    instantiated_at = datetime.now(UTC)

    @router.get("/health", response_model=HealthResponse, operation_id="health_check", summary="Health Check")
    async def health() -> HealthResponse:
        return HealthResponse(status="ok", instantiated_at=instantiated_at)

    return router


def _config_router(agent_os: AgentOS) -> APIRouter:
    router = APIRouter(tags=["Core"])

    @router.get(
        "/config",
        response_model=ConfigResponse,
        response_model_exclude_none=True,
        operation_id="get_config",
        summary="Get OS Configuration",
    )
    async def config() -> ConfigResponse:
        return os_config(agent_os)

    return router


def _add_router(
    app: FastAPI,
    agent_os: AgentOS,
    router: APIRouter,
    dependencies: list[Any],
    responses: dict[int | str, Any],
) -> None:
    """Include `router`; on a `base_app`, a route of the same path and method as one of the app's own is
    handled as Agno does (`on_route_conflict`): kern's replaces it, is skipped, or it is an error."""
    own = [route for route in app.router.routes if isinstance(route, APIRoute)]
    clashes = [
        (mine, theirs)
        for mine in router.routes
        if isinstance(mine, APIRoute)
        for theirs in own
        if theirs.path == mine.path and (theirs.methods or set()) & (mine.methods or set())
    ]
    if clashes:
        policy = agent_os.on_route_conflict
        if policy == "error":
            raise ValueError(f"Route conflict detected: {sorted({mine.path for mine, _ in clashes})}")
        if policy == "preserve_base_app":
            skipped = {id(mine) for mine, _ in clashes}
            kept = APIRouter()
            kept.routes.extend(route for route in router.routes if id(route) not in skipped)
            router = kept
        else:
            replaced = {id(theirs) for _, theirs in clashes}
            app.router.routes[:] = [route for route in app.router.routes if id(route) not in replaced]
            for _, theirs in clashes:
                logger.warning(
                    "route %s %s of the base app is replaced by kern's", theirs.methods, theirs.path
                )
    app.include_router(router, dependencies=dependencies, responses=responses)


def _given_agent_os(lifespan: Any, agent_os: AgentOS) -> Lifespan:
    """`lifespan`, given `agent_os=` when it takes that argument (as Agno does)."""
    function = getattr(lifespan, "__wrapped__", lifespan)
    try:
        takes_it = "agent_os" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        takes_it = False
    return partial(lifespan, agent_os=agent_os) if takes_it else lifespan


def _nested(lifespans: list[Lifespan]) -> Lifespan:
    """One lifespan entering `lifespans` in order (and leaving them in reverse)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for each in lifespans:
                await stack.enter_async_context(each(app))
            yield

    return lifespan
