"""`kern serve`: serve an AgentOS (or the demo team) over HTTP with uvicorn, attached to Ray."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from actors.runtime import ensure_ray
from kern.db.url import DB_URL_VARIABLE, mask_password
from kern.model_server import ModelServer
from kern.os.agentos import AgentOS
from kern.os.auth import exposure_warning, security_key

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7777
PREFIX = "[kern serve]"


def load_os(target: str) -> AgentOS:
    """Import `module:attr` (from the current directory too): an `AgentOS` or a callable making one."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"kern serve: expected module:attr (e.g. my_app:agent_os), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"kern serve: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(found, part):
            raise SystemExit(f"kern serve: {module_name!r} has no attribute {attr!r}")
        found = getattr(found, part)
    if not isinstance(found, AgentOS) and callable(found):
        if _required_parameters(found):
            raise SystemExit(f"kern serve: {target} must be an AgentOS or a callable taking no arguments")
        found = found()
    if not isinstance(found, AgentOS):
        raise SystemExit(f"kern serve: {target} is a {type(found).__name__}, not an AgentOS")
    return found


def _required_parameters(factory: Callable[..., object]) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): just call it
        return []
    return [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def serve(target: str | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve `target` (module:attr), or without it the demo Storytelling Team, until interrupted."""
    model_server: ModelServer | None = None
    try:
        if target:
            agent_os = load_os(target)
        else:
            from kern.demo import local_model_unless_api_key
            from kern.os.demo import demo_os

            model_server = local_model_unless_api_key(PREFIX)
            agent_os = demo_os()
            print(f"{PREFIX} Runs are stored in {mask_password(os.environ[DB_URL_VARIABLE])}", flush=True)
        print(f"{PREFIX} Connecting to Ray ({os.environ.get('RAY_ADDRESS') or 'local'})...", flush=True)
        ensure_ray()
        serve_app(agent_os.get_app(), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
    finally:
        if model_server is not None:
            model_server.stop()


def serve_app(
    app: str | FastAPI, *, host: str, port: int, reload: bool = False, **uvicorn_options: Any
) -> None:
    """Run `app` ("module:attr" or the app) with uvicorn until interrupted, after saying where (and warning
    when it listens beyond this machine without a key). Agno's defaults: no access log, lifespan on."""
    exposed = exposure_warning(host, security_key())
    if exposed:
        print(f"{PREFIX} WARNING: {exposed}", file=sys.stderr, flush=True)
    print(f"{PREFIX} kern AgentOS at http://{host}:{port} (docs: http://{host}:{port}/docs)", flush=True)
    options: dict[str, Any] = {"access_log": False, "lifespan": "on", **uvicorn_options}
    uvicorn.run(app, host=host, port=port, reload=reload, **options)
