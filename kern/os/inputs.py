"""Reading the body of `POST .../runs`: form fields (as Agno's AgentOS takes them) or a JSON object."""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from kern.os.limits import ID_PATTERN, ID_RULE, OPTIONAL_ID_PATTERN, InvalidJson, parse_json, require_text

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_BLANK = r"[^ \t\n\r]"
_IDS = re.compile(ID_PATTERN)


class RunInput(BaseModel):
    """The body of `POST .../runs`: form fields (urlencoded or multipart) or a JSON object."""

    message: str = Field(min_length=1, pattern=NOT_BLANK)
    """Any text with something besides spaces, tabs and line breaks (the request's size is capped)."""
    stream: bool = True
    session_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    user_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    run_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    """Optional; a fresh id is made when absent. Returned in the `X-Run-Id` header either way."""


def invalid(message: str) -> HTTPException:
    """A 422 whose `detail` is one readable sentence."""
    return HTTPException(status_code=422, detail=message)


async def read_run_input(request: Request) -> RunInput:
    """The run request in the body; a 422 (or 415) naming the problem when it is not usable."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        fields = await _form_fields(request)
    elif content_type == "application/json" or content_type.endswith("+json"):
        fields = await _json_fields(request)
    elif not content_type and not await request.body():
        raise invalid("message is required: send it as a form field or in a JSON body")
    else:
        raise HTTPException(
            status_code=415,
            detail=f"unsupported Content-Type {content_type or 'none'!r}: send form fields "
            "(application/x-www-form-urlencoded or multipart/form-data) or a JSON object",
        )
    return _validate(fields)


async def _form_fields(request: Request) -> dict[str, Any]:
    try:
        form = await request.form()
    except HTTPException:  # (the body is too large)
        raise
    except Exception as exc:  # malformed multipart or urlencoded body
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise invalid(f"invalid form data: {detail}") from exc
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        elif key in RunInput.model_fields:
            raise invalid(f"{key} must be a text field, not a file")
    return fields


async def _json_fields(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        raise invalid('the JSON body is empty: send an object such as {"message": "..."}')
    try:
        data = parse_json(body)
    except InvalidJson as exc:
        raise invalid(str(exc)) from None
    if not isinstance(data, dict):
        raise invalid(f"the JSON body must be an object, got {type(data).__name__}")
    return data


def _validate(fields: dict[str, Any]) -> RunInput:
    message = fields.get("message")
    if message is None:
        raise invalid("message is required")
    if not isinstance(message, str):
        raise invalid(f"message must be a string, got {type(message).__name__}")
    if not message.strip(" \t\n\r"):
        raise invalid("message must not be empty or only spaces and line breaks")
    try:
        require_text(message, "message")
    except InvalidJson as exc:
        raise invalid(str(exc)) from None
    optional: dict[str, str | None] = {}
    for key in ("session_id", "user_id", "run_id"):
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{key} must be a string, got {type(value).__name__}")
        optional[key] = valid_id(key, value) if value else None
    return RunInput(message=message, stream=_as_bool(fields.get("stream", True)), **optional)


def valid_id(name: str, value: str) -> str:
    """`value` if it matches `ID_PATTERN`; a 422 naming the field and the rule otherwise."""
    if not _IDS.fullmatch(value):
        shown = value if len(value) <= 40 else f"{value[:40]}..."
        raise invalid(f"{name} must be {ID_RULE}, got {shown!a}")
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid(f"stream must be true or false, got {value!r}")
