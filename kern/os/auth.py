"""Bearer-token authentication, as Agno's AgentOS has it.

With `OS_SECURITY_KEY` set where the app is built, every route but `/health` (and the OpenAPI document
and its docs page) requires `Authorization: Bearer <key>`; otherwise they answer 401. The key is
compared in constant time and never logged. Without the variable, the routes are open (and the OpenAPI
document asks for no key).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

SECURITY_KEY_VARIABLE = "OS_SECURITY_KEY"
MISSING = "Authorization header required"
INVALID = "Invalid authentication token"
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": f"No `Authorization: Bearer <key>` header, or not the key ({SECURITY_KEY_VARIABLE})"}
}
"""The 401 answer, as the OpenAPI document lists it for every guarded route."""

_bearer = HTTPBearer(auto_error=False, description=f"The AgentOS's {SECURITY_KEY_VARIABLE}")


def security_key() -> str | None:
    """The key requests must carry: `OS_SECURITY_KEY`, or None (authentication off)."""
    return os.environ.get(SECURITY_KEY_VARIABLE) or None


def require_key(key: str) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that lets a request through only with `key` as its bearer token."""
    expected = key.encode()

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> None:
        if credentials is None:
            raise HTTPException(401, MISSING, headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(401, INVALID, headers={"WWW-Authenticate": "Bearer"})

    return check


def exposure_warning(host: str, key: str | None) -> str | None:
    """What `kern serve` warns about: listening beyond this machine with no key."""
    if key or host in ("127.0.0.1", "localhost", "::1"):
        return None
    return (
        f"listening on {host} without {SECURITY_KEY_VARIABLE}: anyone who reaches this port can run, "
        f"read, delete and cancel everything. Set {SECURITY_KEY_VARIABLE} to require a bearer token."
    )
