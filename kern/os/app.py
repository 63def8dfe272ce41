"""The FastAPI app of an `AgentOS`."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from kern.os.agentos import AgentOS
from kern.os.auth import UNAUTHORIZED, require_key, security_key
from kern.os.limits import BodySizeLimit, max_request_bytes
from kern.os.runs import component_router
from kern.os.schemas import ComponentRef, Health, OSConfig
from kern.os.sessions import session_router

TITLE = "kern AgentOS"
logger = logging.getLogger("kern.os")


def create_app(agent_os: AgentOS) -> FastAPI:
    """Routes for the agents, teams and sessions of `agent_os` (OpenAPI at /openapi.json, docs at /docs);
    with `OS_SECURITY_KEY` set, all but /health require it as a bearer token (`kern.os.auth`). Request
    bodies are capped (`kern.os.limits`); an unexpected error answers 500 with no traceback."""
    key = security_key()
    guarded = [Depends(require_key(key))] if key else []
    unauthorized = UNAUTHORIZED if key else {}
    app = FastAPI(
        title=TITLE,
        description="Agents and teams running as Ray actors, behind Agno-compatible AgentOS routes.",
        version="0.1.0",
    )
    app.state.agent_os = agent_os
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes())

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error: the server log has the details"}, status_code=500)

    @app.get("/health", response_model=Health, tags=["Core"], summary="Liveness")
    async def health() -> Health:
        return Health()

    @app.get(
        "/config",
        response_model=OSConfig,
        tags=["Core"],
        summary="What this AgentOS serves",
        dependencies=guarded,
        responses=unauthorized,
    )
    async def config() -> OSConfig:
        return OSConfig(
            agents=[ComponentRef(id=a.id, name=a.name) for a in agent_os.agents.values()],
            teams=[ComponentRef(id=t.id, name=t.name) for t in agent_os.teams.values()],
            db_configured=agent_os.db is not None,
        )

    for router in (
        component_router(agent_os, "agent"),
        component_router(agent_os, "team"),
        session_router(agent_os),
    ):
        app.include_router(router, dependencies=guarded, responses=unauthorized)
    return app
