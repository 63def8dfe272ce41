"""Reading the body of `POST .../runs`: form fields (as Agno's AgentOS takes them) or a JSON object."""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from kern.os.limits import ID_PATTERN, ID_RULE, OPTIONAL_ID_PATTERN, InvalidJson, parse_json, require_text
from kern.run.base import ToolExecution
from kern.run.requirement import RunRequirement
from kern.specs import BusySession, busy_policy

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_BLANK = r"[^ \t\n\r]"
_IDS = re.compile(ID_PATTERN)


class RunInput(BaseModel):
    """The body of `POST .../runs` (Agno's form fields, plus kern's `run_id`): form fields (urlencoded or
    multipart) or a JSON object. `session_state`, `dependencies` and `metadata` are JSON objects (in a form,
    as JSON text), as Agno takes them."""

    message: str = Field(min_length=1, pattern=NOT_BLANK)
    """Any text with something besides spaces, tabs and line breaks (the request's size is capped)."""
    stream: bool = True
    session_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    user_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    run_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    """kern's: optional; a fresh id is made when absent. Returned in the `X-Run-Id` header either way."""
    session_state: dict[str, Any] | None = None
    dependencies: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    add_history_to_context: bool | None = None
    add_dependencies_to_context: bool | None = None
    add_session_state_to_context: bool | None = None
    busy_session: BusySession | None = None
    """kern's: what the run does if its session has one in flight (`reject`: 409; `enqueue`, `interrupt`,
    `concurrent`); else the agent's or team's policy."""
    monitor: bool = True
    """Agno's (teams): it only shows in Agno's log; no effect."""
    files: list[bytes] | None = Field(default=None, json_schema_extra={"items": {"format": "binary"}})
    files_metadata: str | None = None
    version: int | None = None
    background: bool = False
    factory_input: str | None = None

    def options(self) -> dict[str, Any]:
        """What the run is given besides its message, its ids and how it streams."""
        return self.model_dump(include=set(RUN_OPTIONS), exclude_none=True)


RUN_OPTIONS = frozenset({
    "session_state", "dependencies", "metadata", "add_history_to_context", "add_dependencies_to_context",
    "add_session_state_to_context", "busy_session",
})  # fmt: skip
JSON_OBJECTS = ("session_state", "dependencies", "metadata")
BOOLEANS = ("stream", "monitor", "background", *sorted(RUN_OPTIONS - {*JSON_OBJECTS, "busy_session"}))
NOT_SUPPORTED = {
    "files": "files (images, audio, video, documents) are not supported by kern yet",
    "files_metadata": "files are not supported by kern yet",
    "version": "kern has no component versions: leave version out",
    "factory_input": "kern has no agent or team factories: leave factory_input out",
}
"""Agno's fields that kern refuses when they ask for something (answered 400, as Agno answers a file
type it cannot take)."""


class ContinueInput(BaseModel):
    """The body of `POST .../runs/{run_id}/continue` (Agno's form fields): `tools`, the paused run's tool
    calls with their answers (a JSON list; in a form, as JSON text), `session_id` and `user_id` (if given,
    the run must be theirs) and `stream` (default true)."""

    tools: list[ToolExecution] = Field(default_factory=list)
    requirements: list[RunRequirement] = Field(default_factory=list)
    """The answers as requirements instead (Agno's teams send these)."""
    session_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    user_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    stream: bool = True


class ContinueForm(BaseModel):
    """`ContinueInput` as its form fields are documented (OpenAPI): lists as JSON text."""

    tools: str = Field(default="", description="JSON list of the paused run's tool calls, answered")
    requirements: str = Field(default="", description="JSON list of the run's requirements, answered")
    session_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    user_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    stream: bool = True


async def read_continue_input(request: Request) -> ContinueInput:
    """The continue request in the body (form fields or a JSON object); a 400 for tools that are not a
    JSON list of tool calls (as Agno answers), a 422 for the rest."""
    fields = await _body_fields(request, required="tools")
    unknown = sorted(set(fields) - set(ContinueInput.model_fields))
    if unknown:
        raise invalid(f"unknown fields {unknown}: a continue takes {sorted(ContinueInput.model_fields)}")
    given: dict[str, Any] = {
        "tools": _json_list(fields, "tools", ToolExecution),
        "requirements": _json_list(fields, "requirements", RunRequirement),
        **_claimed_ids(fields),
    }
    if fields.get("stream") not in (None, ""):
        given["stream"] = _as_bool("stream", fields["stream"])
    return ContinueInput(**given)


def _claimed_ids(fields: dict[str, Any]) -> dict[str, str]:
    """The `session_id` and `user_id` given (the run must be theirs), each checked."""
    given: dict[str, str] = {}
    for key in ("session_id", "user_id"):
        value = fields.get(key)
        if value not in (None, ""):
            if not isinstance(value, str):
                raise invalid(f"{key} must be a string, got {type(value).__name__}")
            given[key] = valid_id(key, value)
    return given


def _json_list(fields: dict[str, Any], key: str, item: type[BaseModel]) -> list[Any]:
    """A list field given as a list or as JSON text (a form's); a 400 naming what is wrong."""
    value = fields.get(key) or []
    if isinstance(value, str):
        try:
            value = parse_json(value.encode())
        except InvalidJson as exc:
            raise HTTPException(status_code=400, detail=f"Invalid JSON in {key} field: {exc}") from None
    if not isinstance(value, list):
        raise HTTPException(status_code=400, detail=f"{key} must be a JSON list")
    try:
        return TypeAdapter(list[item]).validate_python(value)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=f"invalid {key}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"


class ResumeForm(BaseModel):
    """The body of `POST .../runs/{run_id}/resume` (Agno's form fields): the last event the client got
    (`last_event_index`; the `Last-Event-ID` header says the same), and `session_id` / `user_id` (if
    given, the run must be theirs)."""

    last_event_index: int | None = Field(default=None, ge=-1)
    session_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)
    user_id: str | None = Field(default=None, pattern=OPTIONAL_ID_PATTERN)

    @property
    def start(self) -> int:
        """The index of the first event to send."""
        return 0 if self.last_event_index is None else self.last_event_index + 1


async def read_resume_input(request: Request) -> ResumeForm:
    """The resume request: form fields or a JSON object (or no body), and the `Last-Event-ID` header."""
    has_body = bool(request.headers.get("content-type")) or bool(await request.body())
    fields = await _body_fields(request, required="last_event_index") if has_body else {}
    unknown = sorted(set(fields) - set(ResumeForm.model_fields))
    if unknown:
        raise invalid(f"unknown fields {unknown}: a resume takes {sorted(ResumeForm.model_fields)}")
    header = request.headers.get("last-event-id")
    if fields.get("last_event_index") in (None, "") and header:
        fields["last_event_index"] = header
    given: dict[str, Any] = _claimed_ids(fields)
    last = fields.get("last_event_index")
    if last not in (None, ""):
        try:
            given["last_event_index"] = int(str(last).strip())
        except ValueError:
            raise invalid(f"last_event_index must be a whole number, got {last!r}") from None
        if given["last_event_index"] < -1:
            raise invalid("last_event_index must be -1 or more")
    return ResumeForm(**given)


def invalid(message: str) -> HTTPException:
    """A 422 whose `detail` is one readable sentence."""
    return HTTPException(status_code=422, detail=message)


async def read_run_input(request: Request) -> RunInput:
    """The run request in the body; a 422 (or 415) naming the problem when it is not usable."""
    return _validate(await _body_fields(request, required="message"))


async def _body_fields(request: Request, required: str) -> dict[str, Any]:
    """Form fields or a JSON object's; a 415 for any other body, a 422 for none."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return await _form_fields(request)
    if content_type == "application/json" or content_type.endswith("+json"):
        return await _json_fields(request)
    if not content_type and not await request.body():
        raise invalid(f"{required} is required: send it as a form field or in a JSON body")
    raise HTTPException(
        status_code=415,
        detail=f"unsupported Content-Type {content_type or 'none'!r}: send form fields "
        "(application/x-www-form-urlencoded or multipart/form-data) or a JSON object",
    )


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
        if key == "files":
            fields["files"] = True  # (refused: `NOT_SUPPORTED`)
        elif isinstance(value, str):
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
    refused = next((NOT_SUPPORTED[key] for key in NOT_SUPPORTED if _asks(key, fields.get(key))), None)
    if refused is not None:
        raise HTTPException(status_code=400, detail=refused)
    unknown = sorted(set(fields) - set(RunInput.model_fields))
    if unknown:
        raise invalid(f"unknown fields {unknown}: a run takes {sorted(RunInput.model_fields)}")
    given: dict[str, Any] = {"message": message}
    for key in ("session_id", "user_id", "run_id"):
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{key} must be a string, got {type(value).__name__}")
        given[key] = valid_id(key, value) if value else None
    for key in JSON_OBJECTS:
        if fields.get(key) not in (None, ""):
            given[key] = _json_object(key, fields[key])
    if fields.get("busy_session") is not None:
        try:
            given["busy_session"] = busy_policy(str(fields["busy_session"]))
        except ValueError as exc:
            raise invalid(str(exc)) from None
    for key in BOOLEANS:
        if fields.get(key) not in (None, ""):
            given[key] = _as_bool(key, fields[key])
    return RunInput(**given)


def _asks(key: str, value: Any) -> bool:
    """Whether an Agno field kern does not support asks for something (`version=""` does not)."""
    return value not in (None, "", [])


def _json_object(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = parse_json(value.encode())
        except InvalidJson as exc:
            raise invalid(f"{key} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise invalid(f"{key} must be a JSON object, got {type(value).__name__}")
    return value


def valid_id(name: str, value: str) -> str:
    """`value` if it matches `ID_PATTERN`; a 422 naming the field and the rule otherwise."""
    if not _IDS.fullmatch(value):
        shown = value if len(value) <= 40 else f"{value[:40]}..."
        raise invalid(f"{name} must be {ID_RULE}, got {shown!a}")
    return value


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid(f"{key} must be true or false, got {value!r}")
