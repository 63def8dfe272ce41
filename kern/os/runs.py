"""Routes of agents and teams: describe them, start runs (JSON or SSE), cancel runs, read runs back."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial, wraps
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from actors import client
from actors.owners import RunOwner
from actors.runtime import aask_supervisor
from kern.component import Component, EventStream
from kern.continuation import NotPausedError, answered, cancel_paused, paused_record
from kern.engine.events import EventFactory
from kern.errors import describe
from kern.exceptions import SessionBusyError, TooManyRunsError
from kern.os.agentos import AgentOS, ComponentNotFound, Kind
from kern.os.disconnect import ClientGone, unless_disconnected
from kern.os.inputs import (
    ContinueForm,
    ResumeForm,
    RunInput,
    read_continue_input,
    read_resume_input,
    read_run_input,
)
from kern.os.limits import ID_PATTERN, ID_RULE
from kern.os.run_bodies import RunBody, TeamRunBody
from kern.os.schemas import AgentInfo, CancelResult, TeamInfo, agent_info, answers, team_info
from kern.os.session_schemas import RunSchema, TeamRunSchema, run_schema
from kern.os.sse import EventStreamResponse
from kern.os.storage import in_db, require_db
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.team import TeamRunOutput
from kern.specs import RunRequest, TeamSpec, new_id, run_identity

R = TypeVar("R")
logger = logging.getLogger("kern.os")
RunId = Annotated[str, Path(pattern=ID_PATTERN, description=f"The run's id: {ID_RULE}")]
SessionClaim = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="If given, the run must be of this session")
]
UserClaim = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="If given, the run must be this user's")
]
CLIENT_CLOSED_REQUEST = 499
"""Status logged for a non-streaming run whose client left (nobody receives it)."""


def component_router(agent_os: AgentOS, kind: Kind) -> APIRouter:
    """`/agents/...` or `/teams/...` routes for the components of `agent_os`."""
    plural = f"{kind}s"
    info_model: type[AgentInfo] = TeamInfo if kind == "team" else AgentInfo
    output_model: type[RunOutput] = TeamRunBody if kind == "team" else RunBody
    named = partial(_path_named, f"{kind}_id", f"The {kind}'s id (a slug of its name)")
    router = APIRouter(prefix=f"/{plural}", tags=[plural.capitalize()])

    def find(component_id: str) -> Component:
        try:
            return agent_os.get(kind, component_id)
        except ComponentNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    def public_info(component: Component) -> AgentInfo:
        spec = component.spec
        return team_info(spec) if isinstance(spec, TeamSpec) else agent_info(spec)

    @router.get("", response_model=list[info_model], summary=f"List {plural}")  # type: ignore[valid-type]
    async def list_components() -> list[AgentInfo]:
        return [public_info(c) for c in (agent_os.teams if kind == "team" else agent_os.agents).values()]

    @router.get(f"/{{{kind}_id}}", response_model=info_model, summary=f"Get a {kind}", responses=answers(404))
    @named
    async def get_component(component_id: str) -> AgentInfo:
        return public_info(find(component_id))

    @router.post(
        f"/{{{kind}_id}}/runs",
        summary=f"Start a {kind} run",
        description=(
            "Form fields (urlencoded or multipart) or a JSON object with Agno's fields: `message`, `stream` "
            "(default true), `session_id`, `user_id`, `session_state` / `dependencies` / `metadata` (JSON "
            "objects), the `add_*_to_context` options, and kern's optional `run_id` and `busy_session`. "
            "`files`, `version` and `factory_input` are not supported yet (400). With `background` the run "
            "goes on in its actor and the answer is at once a 202 `{run_id, session_id, status}` (poll "
            "`GET .../runs/{run_id}`: its partial answer while it runs). With `stream` the answer is "
            "Server-Sent Events (`event: <EventName>` / `data: <event JSON>`); otherwise the run's record as "
            "JSON. The run's id is in the `X-Run-Id` header. A client that disconnects cancels the run."
        ),
        response_model=output_model,
        responses={
            200: {"content": {"text/event-stream": {}}},
            202: {"description": "A background run started: `{run_id, session_id, status}`"},
            **answers(400, 404, 409, 413, 415, 422, 429, 500, 503),
        },
        openapi_extra={"requestBody": _request_body()},
    )
    @named
    async def create_run(component_id: str, request: Request) -> Response:
        component = find(component_id)
        run = await read_run_input(request)
        if run.run_id is not None and await _taken(agent_os, run.run_id):
            raise HTTPException(
                status_code=409, detail=f"run {run.run_id!r} exists already: a run id is used once"
            )
        run_id = run.run_id or new_id()
        session_id = run.session_id or component.session_id or new_id()
        headers = {"X-Run-Id": run_id, "X-Session-Id": session_id}
        await _ready(component)
        options: dict[str, Any] = {
            **run.options(), "session_id": session_id, "user_id": run.user_id, "run_id": run_id
        }  # fmt: skip

        async def cancel() -> None:
            await component.acancel_run(run_id)

        if run.background:
            try:
                started = await component.arun(run.message, background=True, **options)
            except (SessionBusyError, TooManyRunsError) as exc:
                raise _refused(exc, headers) from None
            except ValueError as exc:  # (no db to keep its outcome)
                raise HTTPException(status_code=400, detail=str(exc), headers=headers) from None
            if run.stream:  # (its stream, which a disconnect leaves running: rejoin it with /resume)
                return _following(component, run_id, session_id, 0, headers)
            answer = {"run_id": run_id, "session_id": session_id, "status": started.status.value}
            return JSONResponse(answer, status_code=202, headers=headers)
        if run.stream:
            events = await component.arun(run.message, stream=True, **options)
            return await _streamed(
                request,
                events,
                cancel,
                headers,
                lambda exc: _failure(component, run, run_id, session_id, exc),
            )
        try:
            output = await unless_disconnected(
                request.receive, component.arun(run.message, stream=False, **options), cancel
            )
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED_REQUEST, headers=headers)
        except (SessionBusyError, TooManyRunsError) as exc:
            raise _refused(exc, headers) from None
        except Exception as exc:
            logger.exception("%s run %s failed", kind, run_id)
            detail = f"{kind} run {run_id} failed: {describe(exc)}"
            raise HTTPException(status_code=500, detail=detail) from exc
        return JSONResponse(output.to_dict(), headers=headers)

    @router.post(
        f"/{{{kind}_id}}/runs/{{run_id}}/cancel",
        response_model=CancelResult,
        summary=f"Cancel a {kind} run",
        description=(
            "Cancels the run and its member runs wherever they execute on the Ray cluster (any server or "
            "process may have started it). `cancelled` says whether it was in flight; a cancel of an id not "
            "yet started is remembered for a while, so that run never starts. A run of another agent or "
            "team, or of another session or user than those given, answers 404 and is not cancelled."
        ),
        responses=answers(404, 422, 503),
    )
    @named
    async def cancel_run(
        component_id: str, run_id: RunId, session_id: SessionClaim = None, user_id: UserClaim = None
    ) -> CancelResult:
        component = find(component_id)
        claim = RunOwner(kind, component_id, session_id, user_id)
        try:
            owner = await aask_supervisor("owner", run_id)
            if owner is None and agent_os.db is not None:  # (the supervisor restarted, or the run is old)
                stored = await in_db(agent_os.db.get_run, run_id)
                owner = _owner(stored) if stored is not None else None
            cancelled = None if owner and not claim.admits(owner) else await client.acancel_run(run_id, claim)
            if cancelled is False and owner is not None:  # (not in flight: paused runs hold no task)
                cancelled = await in_db(cancel_paused, component.spec, run_id)
        except HTTPException:
            raise
        except Exception as exc:
            detail = f"cannot reach kern's supervisor to cancel {run_id!r}: {describe(exc)}"
            raise HTTPException(status_code=503, detail=detail) from exc
        if cancelled is None:
            raise HTTPException(status_code=404, detail=_not_found(kind, component_id, run_id, claim))
        return CancelResult(run_id=run_id, cancelled=cancelled)

    @router.post(
        f"/{{{kind}_id}}/runs/{{run_id}}/continue",
        summary=f"Continue a paused {kind} run",
        description=(
            "Resumes a PAUSED run (a tool that waits for a confirmation, a person's input or the caller's "
            "own execution) on any replica, from its stored record. Form fields or a JSON object, as Agno's: "
            "`tools` (the run's waiting tool calls, as its `RunPaused` event or record lists them, with "
            "`confirmed` / `confirmation_note`, the `user_input_schema` values, or the `result` of an "
            "external execution), `session_id` and `user_id` (if given, the run must be theirs), `stream` "
            "(default true). With `stream` the answer is Server-Sent Events starting with `RunContinued`; "
            "otherwise the run's record. 409 if the run is not PAUSED; 400 if a waiting call is left "
            "unanswered or `tools` is not a JSON list of tool calls."
        ),
        response_model=output_model,
        responses={200: {"content": {"text/event-stream": {}}}, **answers(400, 404, 409, 415, 422, 429, 503)},
        openapi_extra={"requestBody": _request_body(ContinueForm)},
    )
    @named
    async def continue_run(component_id: str, run_id: RunId, request: Request) -> Response:
        component = find(component_id)
        body = await read_continue_input(request)
        claim = RunOwner(kind, component_id, body.session_id, body.user_id)
        db = component.spec.db or require_db(agent_os)
        stored = await in_db(db.get_run, run_id)
        if stored is None or not claim.admits(_owner(stored)):
            raise HTTPException(status_code=404, detail=_not_found(kind, component_id, run_id, claim))
        try:
            record = paused_record(component.spec, stored, None, None)
            answered(
                record, body.requirements, body.tools
            )  # (checked here, so a 400 comes before any stream)
        except NotPausedError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        headers = {"X-Run-Id": run_id, "X-Session-Id": stored.session_id or ""}
        await _ready(component)
        options: dict[str, Any] = {
            "updated_tools": body.tools, "requirements": body.requirements, "user_id": body.user_id
        }  # fmt: skip
        continued = RunRequest(input=stored.input, run_id=run_id, session_id=stored.session_id or run_id)

        async def cancel() -> None:
            await component.acancel_run(run_id)

        if body.stream:
            events = cast(EventStream, component.acontinue_run(stored, stream=True, **options))
            return await _streamed(
                request, events, cancel, headers, lambda exc: _error_event(component, continued, exc)
            )
        try:
            finishing = cast(
                Coroutine[Any, Any, RunOutput], component.acontinue_run(stored, **options, stream=False)
            )
            output = await unless_disconnected(request.receive, finishing, cancel)
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED_REQUEST, headers=headers)
        except NotPausedError as exc:  # (another continue of it is under way)
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except TooManyRunsError as exc:
            raise _refused(exc, headers) from None
        except Exception as exc:
            logger.exception("%s run %s failed to continue", kind, run_id)
            raise HTTPException(
                status_code=500, detail=f"{kind} run {run_id} failed: {describe(exc)}"
            ) from exc
        return JSONResponse(output.to_dict(), headers=headers)

    @router.post(
        f"/{{{kind}_id}}/runs/{{run_id}}/resume",
        summary=f"Rejoin a {kind} run's stream",
        description=(
            "Server-Sent Events of the run from the event after `last_event_index` (form field, as Agno's; "
            "or the standard `Last-Event-ID` header; from the first if neither), then live until its "
            "terminal event, whichever server or process started it. Every event carries its "
            "`event_index` and an SSE `id:`. A run that ended is replayed from its stored events "
            "(`store_events`); 404 if it has none, or if the run is another agent's, team's, session's or "
            "user's. Leaving a rejoined stream does not cancel the run."
        ),
        responses={200: {"content": {"text/event-stream": {}}}, **answers(404, 415, 422, 503)},
        openapi_extra={"requestBody": _request_body(ResumeForm)},
    )
    @named
    async def resume_run(component_id: str, run_id: RunId, request: Request) -> Response:
        component = find(component_id)
        body = await read_resume_input(request)
        claim = RunOwner(kind, component_id, body.session_id, body.user_id)
        owner: RunOwner | None = await aask_supervisor("owner", run_id)
        stored = None
        if owner is None:  # (an older run, or the supervisor restarted: the stored record says whose)
            db = component.spec.db or agent_os.db
            stored = await in_db(db.get_run, run_id) if db is not None else None
            owner = _owner(stored) if stored is not None else None
        if owner is None or not claim.admits(owner):
            raise HTTPException(status_code=404, detail=_not_found(kind, component_id, run_id, claim))
        start = body.start
        session_id = owner.session_id or ""
        headers = {"X-Run-Id": run_id, "X-Session-Id": session_id}
        return _following(component, run_id, session_id, start, headers, stored)

    @router.get(
        f"/{{{kind}_id}}/runs",
        response_model=list[TeamRunSchema] if kind == "team" else list[RunSchema],
        summary=f"List a {kind}'s runs of a session",
        description="The session's runs of this agent or team in start order, optionally of one status.",
        responses=answers(404, 422, 503),
    )
    @named
    async def list_runs(
        component_id: str,
        session_id: Annotated[str, Query(pattern=ID_PATTERN, description="The session's id")],
        status: Annotated[RunStatus | None, Query(description="Only runs of this status")] = None,
        user_id: UserClaim = None,
    ) -> list[RunSchema | TeamRunSchema]:
        find(component_id)
        record = await in_db(require_db(agent_os).get_session, session_id)
        if record is None or user_id not in (None, record.user_id):
            raise HTTPException(status_code=404, detail=f"session {session_id!r} not found")
        claim = RunOwner(kind, component_id, None, None)
        runs = [run for run in record.runs if claim.admits(_owner(run)) and status in (None, run.status)]
        return [run_schema(run) for run in runs]

    @router.get(
        f"/{{{kind}_id}}/runs/{{run_id}}",
        response_model=output_model,
        summary=f"Get a stored {kind} run",
        responses=answers(404, 422, 503),
    )
    @named
    async def get_run(
        component_id: str, run_id: RunId, session_id: SessionClaim = None, user_id: UserClaim = None
    ) -> Response:
        find(component_id)
        claim = RunOwner(kind, component_id, session_id, user_id)
        stored = await in_db(require_db(agent_os).get_run, run_id)
        if stored is None or stored.status is RunStatus.running:  # (its actor has it as it stands)
            stored = await _live_record(run_id) or stored
        if stored is None or not claim.admits(_owner(stored)):
            raise HTTPException(status_code=404, detail=_not_found(kind, component_id, run_id, claim))
        return JSONResponse(stored.to_dict())

    return router


async def _streamed(
    request: Request,
    events: EventStream,
    cancel: Callable[[], Awaitable[None]],
    headers: dict[str, str],
    on_error: Callable[[BaseException], BaseRunEvent],
) -> Response:
    """SSE of a run's events, begun once its first event has come: a run refused before it starts (its
    session is busy, or no replica has room) is a 409 / 429, not a stream; a client gone first, a 499."""
    try:
        first = await unless_disconnected(request.receive, anext(events), cancel)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST, headers=headers)
    except (SessionBusyError, TooManyRunsError) as exc:
        raise _refused(exc, headers) from None
    return EventStreamResponse(
        _after(first, events), on_disconnect=cancel, on_error=on_error, headers=headers
    )


def _refused(exc: SessionBusyError | TooManyRunsError, headers: dict[str, str]) -> HTTPException:
    """409 for a busy session; 429 with `Retry-After` for a run past the component's admission."""
    if isinstance(exc, TooManyRunsError):
        retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return HTTPException(status_code=429, detail=str(exc), headers={**headers, **retry})
    return HTTPException(status_code=409, detail=str(exc), headers=headers)


async def _after(first: BaseRunEvent, events: AsyncIterator[BaseRunEvent]) -> AsyncGenerator[BaseRunEvent]:
    """`first`, then the rest of `events` (closed with the generator)."""
    try:
        yield first
        async for event in events:
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _path_named(
    name: str, description: str, handler: Callable[..., Awaitable[R]]
) -> Callable[..., Awaitable[R]]:
    """`handler` with its `component_id` parameter renamed `name` ("agent_id", "team_id") for FastAPI."""
    signature = inspect.signature(handler)
    parameter = inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path(description=description)]
    )
    others = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()]
    rest = [p for p in others if p.name != "component_id"]

    @wraps(handler)
    async def renamed(**kwargs: Any) -> R:
        return await handler(component_id=kwargs.pop(name), **kwargs)

    renamed.__signature__ = signature.replace(parameters=[parameter, *rest])  # type: ignore[attr-defined]
    return renamed


def _following(
    component: Component,
    run_id: str,
    session_id: str,
    start: int,
    headers: dict[str, str],
    stored: RunOutput | None = None,
) -> Response:
    """SSE of a run's stream from its `start`-th event: from the actor that has it, else from its stored
    events. A client that leaves does not cancel the run."""

    async def events() -> AsyncGenerator[BaseRunEvent]:
        seen = 0
        async for event in client.follow_run(run_id, start):
            seen += 1
            yield event
        if seen:
            return
        record = stored if stored is not None else await _stored(component, run_id)
        for event in (record.events or []) if record is not None else []:
            if not isinstance(event, BaseRunEvent):
                continue
            if seen >= start:
                yield event
            seen += 1

    async def leave() -> None:
        return None

    request = RunRequest(input="", run_id=run_id, session_id=session_id or run_id)
    return EventStreamResponse(
        events(),
        on_disconnect=leave,
        on_error=lambda exc: _error_event(component, request, exc),
        headers=headers,
        first_index=start,
    )


async def _stored(component: Component, run_id: str) -> RunOutput | None:
    db = component.spec.db
    return await in_db(db.get_run, run_id) if db is not None else None


async def _live_record(run_id: str) -> RunOutput | None:
    """A run in flight as its actor has it now; None if it is not live or kern's supervisor is away."""
    try:
        return await client.snapshot(run_id)
    except Exception as exc:  # (the stored record is the answer then)
        logger.warning("no live record of run %s: %s", run_id, describe(exc))
        return None


async def _ready(component: Component) -> None:
    """Find or create the component's actors in a thread (the first time blocks on Ray)."""
    try:
        await asyncio.to_thread(component.actor)
    except Exception as exc:
        raise HTTPException(
            status_code=503, detail=f"cannot start the actor of {component.id!r}: {describe(exc)}"
        ) from exc


async def _taken(agent_os: AgentOS, run_id: str) -> bool:
    """Whether a run with this id started already (in flight, or ended), here or anywhere on the cluster."""
    try:
        if await aask_supervisor("known", run_id):
            return True
    except Exception as exc:
        raise HTTPException(
            status_code=503, detail=f"cannot reach kern's supervisor: {type(exc).__name__}"
        ) from exc
    return agent_os.db is not None and await in_db(agent_os.db.get_run, run_id) is not None


def _owner(run: RunOutput) -> RunOwner:
    if isinstance(run, TeamRunOutput):
        return RunOwner("team", run.team_id or "", run.session_id, run.user_id)
    return RunOwner("agent", run.agent_id or "", run.session_id, run.user_id)


def _not_found(kind: Kind, component_id: str, run_id: str, claim: RunOwner) -> str:
    """The same answer whether the run does not exist or is someone else's."""
    named = (("session", claim.session_id), ("user", claim.user_id))
    of = "".join(f" in {what} {value!r}" for what, value in named if value)
    return f"run {run_id!r} of {kind} {component_id!r}{of} not found"


def _failure(
    component: Component, run: RunInput, run_id: str, session_id: str, exc: BaseException
) -> BaseRunEvent:
    """The terminal error event sent when a run's stream breaks in this server."""
    request = RunRequest(input=run.message, run_id=run_id, session_id=session_id, user_id=run.user_id)
    return _error_event(component, request, exc)


def _error_event(component: Component, request: RunRequest, exc: BaseException) -> BaseRunEvent:
    message = f"the run's stream failed: {describe(exc)}"
    return EventFactory(component.spec.kind == "team", run_identity(component.spec, request)).make(
        "error", content=message, error_type="ServerError"
    )


def _request_body(fields: type[BaseModel] = RunInput) -> dict[str, Any]:
    schema = fields.model_json_schema()
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "multipart/form-data": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }
