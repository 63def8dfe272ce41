"""The browser origins an AgentOS allows, as Agno 3.1.10 applies `cors_allowed_origins`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

AGNO_ORIGINS = (
    "http://localhost:3000",
    "https://agno.com",
    "https://www.agno.com",
    "https://app.agno.com",
    "https://os-stg.agno.com",
    "https://os.agno.com",
)
"""The origins allowed when none are given (Agno's defaults: its control plane and a local UI)."""


def allow_origins(app: FastAPI, origins: list[str] | None) -> None:
    """Answer CORS requests from `origins` (`AGNO_ORIGINS` if none), with credentials, any method and
    header, every header exposed. Origins a CORS middleware of `app` (a `base_app`) already allows are
    kept, that middleware replaced; "*" is never allowed (credentials are). The middleware goes outermost,
    so preflights are answered before any other middleware or the key check."""
    allowed = list(origins or AGNO_ORIGINS)
    pattern: str | None = None
    for middleware in app.user_middleware:
        if middleware.cls is CORSMiddleware:
            allowed.extend(cast(Sequence[str], middleware.kwargs.get("allow_origins", ())))
            pattern = pattern or cast(str | None, middleware.kwargs.get("allow_origin_regex"))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CORSMiddleware]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(dict.fromkeys(origin for origin in allowed if origin != "*")),
        allow_origin_regex=pattern,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
    )
