"""What the HTTP edge accepts: the id pattern, the request size cap, and JSON that parses within bounds.

Everything here answers before anything runs: a bad id or body never reaches an actor or the database.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kern.settings import whole_number

ID_PATTERN = r"^[A-Za-z0-9_.:@+=~-]{1,128}$"
"""Run, session and user ids: 1 to 128 ASCII letters, digits and `_ . : @ + = ~ -` (UUIDs, slugs, e-mail
addresses). Anything else, Unicode included, is refused with 422 before the run starts: ids travel in
HTTP headers (`X-Run-Id`), which carry Latin-1 only."""
ID_RULE = "1-128 ASCII letters, digits or _ . : @ + = ~ -"
OPTIONAL_ID_PATTERN = r"^(?:[A-Za-z0-9_.:@+=~-]{1,128})?$"
"""An id in a run request's body: empty means none (a new session, a fresh run id), as forms send it."""
MAX_REQUEST_BYTES_VARIABLE = "KERN_MAX_REQUEST_BYTES"
DEFAULT_MAX_REQUEST_BYTES = 1_048_576
"""1 MiB: a long prompt is tens of kilobytes."""
MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 64


class InvalidJson(ValueError):
    """A JSON body that is malformed or beyond the limits, with a sentence saying which."""


def max_request_bytes() -> int:
    """The request body cap: `KERN_MAX_REQUEST_BYTES` (a positive integer), else 1 MiB."""
    return whole_number(MAX_REQUEST_BYTES_VARIABLE, DEFAULT_MAX_REQUEST_BYTES, unit="bytes")


def parse_json(body: bytes) -> Any:
    """The JSON value of `body`: at most `MAX_JSON_DEPTH` arrays/objects deep, integers of at most
    `MAX_INTEGER_DIGITS` digits, no NaN or Infinity, no lone surrogates in strings."""
    try:
        value = json.loads(body, parse_int=_integer, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidJson(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the JSON body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"invalid JSON body: {exc}") from None
    _check_depth_and_text(value)
    return value


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidJson(f"the JSON body has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(digits)


def _no_constant(name: str) -> Any:
    raise InvalidJson(f"the JSON body has {name}, which JSON does not allow")


def _check_depth_and_text(value: Any) -> None:
    """Walk without recursion: too deep, or a string that is not valid Unicode, raises `InvalidJson`."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            require_text(item, "a string in the JSON body")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidJson(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def require_text(text: str, what: str) -> None:
    """Raise `InvalidJson` if `text` holds a lone surrogate (it cannot be stored or sent as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidJson(f"{what} is not valid Unicode: a lone surrogate at position {exc.start}") from None


class BodySizeLimit:
    """ASGI middleware: a request whose body is larger than `max_bytes` answers 413, by its
    Content-Length before it is read, or as soon as a chunked body passes the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": self.refusal()}, status_code=413)
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self.refusal())
            return message

        await self.app(scope, counting_receive, send)

    def refusal(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes ({MAX_REQUEST_BYTES_VARIABLE})"
