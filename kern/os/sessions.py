"""Session routes, as Agno 3.1.10's AgentOS: list (paged, sorted, filtered), create, read with its runs
and run previews, rename, update and delete sessions.

Every route that takes `user_id` answers a session of another user as it answers a missing one (404).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from kern.db import BaseDb, SessionRecord
from kern.db.base import SessionSortField, SortOrder
from kern.os.agentos import AgentOS, session_table
from kern.os.limits import ID_PATTERN, ID_RULE, InvalidJson, parse_json
from kern.os.schemas import ErrorDetail
from kern.os.session_schemas import (
    AGNO_RUN_STATUSES,
    AgnoSessionType,
    AnyRunSchema,
    CreateSessionRequest,
    DeleteSessionRequest,
    PaginationInfo,
    RenameSessionRequest,
    SessionDetail,
    SessionPage,
    SessionRunPreviewSchema,
    UpdateSessionRequest,
    run_preview,
    run_schema,
    session_detail,
    session_item,
)
from kern.os.storage import in_db, require_db

SessionId = Annotated[str, Path(pattern=ID_PATTERN, description=f"The session's id: {ID_RULE}")]
RunId = Annotated[str, Path(pattern=ID_PATTERN, description=f"The run's id: {ID_RULE}")]
UserClaim = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="If given, the session must be this user's")
]
TypeClaim = Annotated[
    AgnoSessionType | None,
    Query(alias="type", description="If given, the session must be of this type (kern has no workflows)"),
]
DbId = Annotated[
    str | None, Query(description="The database's id, as `GET /config` lists it; the AgentOS's by default")
]
TableName = Annotated[str | None, Query(description="The database's session table (needs `db_id`)")]
Created = Annotated[
    int | None,
    Query(ge=0, le=2**53, description="Unix seconds: runs started in or after (before) that second"),
]
Statuses = Annotated[
    list[str] | None,
    Query(
        description=f"Runs of any of these statuses (repeatable, any case): {', '.join(AGNO_RUN_STATUSES)}"
    ),
]
DeleteMedia = Annotated[
    bool, Query(alias="delete_media", description="Agno's: also delete offloaded media (kern stores none)")
]


@dataclass
class RunFilter:
    """Which runs of a session a route lists: the session's claims, and the runs' start and status."""

    session_type: TypeClaim = None
    user_id: UserClaim = None
    created_after: Created = None
    created_before: Created = None
    status: Statuses = None


Runs = Annotated[RunFilter, Depends()]

NO_FIELDS = CreateSessionRequest()
"""`POST /sessions` with no body: Agno's default, an agent session with a new id."""
_ERRORS = {
    400: "A table without db_id, an unknown run status, not as many session types as ids, or an Agno "
    "feature kern does not have (workflows, session metadata or summaries), as Agno answers them",
    404: "No such session (or not of the given user or type), run in it, or database",
    409: "A session with this id exists already",
    413: "The request body is larger than the cap (KERN_MAX_REQUEST_BYTES, 1 MiB by default)",
    422: "An invalid id, parameter or body field",
    503: "The database cannot be reached; retry",
}


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorDetail, "description": _ERRORS[code]} for code in codes}


def _database(request: Request, db_id: DbId = None, table: TableName = None) -> BaseDb:
    """The database asked for, among the AgentOS's (`app.state.agent_os`), as Agno picks it: a 400 or
    404 naming what is wrong."""
    agent_os: AgentOS = request.app.state.agent_os
    if db_id is None:
        if table is not None:
            raise HTTPException(400, "The db_id query parameter is required when passing a table")
        return require_db(agent_os)
    db = agent_os.dbs.get(db_id)
    if db is None:
        raise HTTPException(404, f"No database found with id '{db_id}'")
    if table is not None and table != session_table(db):
        raise HTTPException(404, f"No database with id '{db_id}' has table '{table}'")
    return db


def _database_by_id(request: Request, db_id: DbId = None) -> BaseDb:
    return _database(request, db_id)


Db = Annotated[BaseDb, Depends(_database)]
DbById = Annotated[BaseDb, Depends(_database_by_id)]


def session_router(agent_os: AgentOS) -> APIRouter:
    """`/sessions/...` routes reading and writing the AgentOS's databases."""
    router = APIRouter(prefix="/sessions", tags=["Sessions"])

    async def load(
        db: BaseDb,
        session_id: str,
        user_id: str | None,
        session_type: AgnoSessionType | None,
        *,
        with_runs: bool = True,
    ) -> SessionRecord:
        """The session, or a 404 also when it is another user's or of another type."""
        record = await in_db(lambda: db.get_session(session_id, with_runs=with_runs))
        if (
            record is None
            or user_id not in (None, record.user_id)
            or session_type not in (None, record.session_type)
        ):
            raise HTTPException(status_code=404, detail=_not_found(session_id, user_id))
        return record

    async def detail(
        db: BaseDb, session_id: str, user_id: str | None, session_type: AgnoSessionType | None
    ) -> SessionDetail:
        """The session with its runs, checked as `load` checks it."""
        record = await load(db, session_id, user_id, session_type)
        components = agent_os.agents if record.session_type == "agent" else agent_os.teams
        component = components.get(record.component_id)
        return session_detail(record, component.spec if component is not None else None)

    async def runs_of(db: BaseDb, session_id: str, chosen: RunFilter) -> list[AnyRunSchema]:
        statuses = _statuses(chosen.status)
        await load(db, session_id, chosen.user_id, chosen.session_type, with_runs=False)
        after, before = chosen.created_after, chosen.created_before
        runs = await in_db(
            lambda: db.list_runs(session_id, created_after=after, created_before=before, statuses=statuses)
        )
        return [run_schema(run) for run in runs]

    async def update(
        db: BaseDb,
        session_id: str,
        session_type: AgnoSessionType | None,
        user_id: str | None,
        **changes: Any,
    ) -> Response:
        """Apply `changes` to the session (checked as `load` checks it); its detail, nulls included (as
        Agno answers a rename or an update)."""
        await load(db, session_id, user_id, session_type, with_runs=False)
        if not await in_db(lambda: db.update_session(session_id, **changes)):
            raise HTTPException(status_code=404, detail=_not_found(session_id, user_id))
        return JSONResponse((await detail(db, session_id, user_id, None)).model_dump(mode="json"))

    @router.get(
        "",
        response_model=SessionPage,
        summary="List sessions: a page, filtered and sorted (newest first by default)",
        responses=_answers(400, 404, 422, 503),
    )
    async def list_sessions(
        db: Db,
        session_type: Annotated[AgnoSessionType | None, Query(alias="type")] = None,
        component_id: Annotated[str | None, Query(description="An agent's or team's id")] = None,
        user_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Only this user's")] = None,
        session_name: Annotated[str | None, Query(description="Part of the name set, any case")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
        page: Annotated[int, Query(ge=1, le=2**31 - 1, description="1-based")] = 1,
        sort_by: SessionSortField = "created_at",
        sort_order: SortOrder = "desc",
    ) -> Response:
        started = time.perf_counter()
        records: list[SessionRecord] = []
        total = 0
        if session_type != "workflow":  # (none in kern)
            filters: dict[str, Any] = {
                "session_type": session_type,
                "component_id": component_id,
                "user_id": user_id,
                "session_name": session_name,
            }
            records, total = await in_db(
                lambda: (
                    db.get_sessions(
                        **filters, limit=limit, page=page, sort_by=sort_by, sort_order=sort_order
                    ),
                    db.count_sessions(**filters),
                )
            )
        meta = PaginationInfo(
            page=page,
            limit=limit,
            total_pages=(total + limit - 1) // limit,
            total_count=total,
            search_time_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        body = SessionPage(data=[session_item(record) for record in records], meta=meta)
        return JSONResponse(body.model_dump(mode="json", exclude_none=True))

    @router.post(
        "",
        response_model=SessionDetail,
        status_code=201,
        summary="Create an empty session",
        dependencies=[Depends(_bounded_json)],
        responses=_answers(400, 404, 409, 413, 422, 503),
    )
    async def create_session(
        db: DbById,
        session_type: Annotated[AgnoSessionType, Query(alias="type")] = "agent",
        body: Annotated[CreateSessionRequest, Body()] = NO_FIELDS,
    ) -> Response:
        if session_type == "workflow" or body.workflow_id is not None:
            raise HTTPException(400, "kern has no workflows: create an agent or a team session")
        if body.metadata is not None:
            raise HTTPException(400, "kern keeps no session metadata: leave metadata out")
        session_id = body.session_id or str(uuid.uuid4())
        component_id = (body.agent_id if session_type == "agent" else body.team_id) or ""
        created = await in_db(
            lambda: db.create_session(
                session_id,
                session_type,
                component_id,
                body.user_id,
                session_name=body.session_name,
                session_state=body.session_state,
            )
        )
        if not created:
            raise HTTPException(
                409,
                f"Session with id '{session_id}' already exists. "
                f"Use PATCH /sessions/{session_id} to update it.",
            )
        made = await detail(db, session_id, None, None)
        return JSONResponse(made.model_dump(mode="json", exclude_none=True), status_code=201)

    @router.delete(
        "",
        status_code=204,
        summary="Delete sessions (those there; with user_id, those of that user) and all their runs",
        dependencies=[Depends(_bounded_json)],
        responses=_answers(400, 404, 413, 422, 503),
    )
    async def delete_sessions(
        body: DeleteSessionRequest, db: Db, user_id: UserClaim = None, _media: DeleteMedia = False
    ) -> Response:
        if len(body.session_ids) != len(body.session_types):
            raise HTTPException(400, "Session IDs and session types must have the same length")
        await in_db(lambda: db.delete_sessions(body.session_ids, user_id))
        return Response(status_code=204)

    @router.get(
        "/{session_id}",
        response_model=SessionDetail,
        summary="Get a session: its state, metrics and chat history",
        responses=_answers(400, 404, 422, 503),
    )
    async def get_session(
        session_id: SessionId, db: Db, session_type: TypeClaim = None, user_id: UserClaim = None
    ) -> Response:
        found = await detail(db, session_id, user_id, session_type)
        return JSONResponse(found.model_dump(mode="json", exclude_none=True))

    @router.get(
        "/{session_id}/runs",
        response_model=list[AnyRunSchema],
        summary="The session's runs in start order, members' runs included (parent_run_id says whose)",
        responses=_answers(400, 404, 422, 503),
    )
    async def get_session_runs(session_id: SessionId, db: Db, chosen: Runs) -> Response:
        runs = await runs_of(db, session_id, chosen)
        return JSONResponse([run.model_dump(mode="json", exclude_none=True) for run in runs])

    @router.get(
        "/{session_id}/run-previews",
        response_model=list[SessionRunPreviewSchema],
        summary="The session's runs in short: ids, status, time, input and answer cut to 280 characters",
        responses=_answers(400, 404, 422, 503),
    )
    async def get_session_run_previews(session_id: SessionId, db: Db, chosen: Runs) -> Response:
        runs = await runs_of(db, session_id, chosen)
        return JSONResponse([run_preview(run).model_dump(mode="json", exclude_none=True) for run in runs])

    @router.get(
        "/{session_id}/runs/{run_id}",
        response_model=AnyRunSchema,
        summary="Get one run of the session (a member's run too)",
        responses=_answers(400, 404, 422, 503),
    )
    async def get_session_run(
        session_id: SessionId,
        run_id: RunId,
        db: Db,
        session_type: TypeClaim = None,
        user_id: UserClaim = None,
    ) -> Response:
        await load(db, session_id, user_id, session_type, with_runs=False)
        run = await in_db(db.get_run, run_id)
        if run is None or run.session_id != session_id:
            raise HTTPException(404, f"run {run_id!r} not found in session {session_id!r}")
        return JSONResponse(run_schema(run).model_dump(mode="json"))

    @router.post(
        "/{session_id}/rename",
        response_model=SessionDetail,
        summary="Rename a session",
        dependencies=[Depends(_bounded_json)],
        responses=_answers(400, 404, 413, 422, 503),
    )
    async def rename_session(
        session_id: SessionId,
        body: RenameSessionRequest,
        db: Db,
        session_type: TypeClaim = None,
        user_id: UserClaim = None,
    ) -> Response:
        return await update(db, session_id, session_type, user_id, session_name=body.session_name)

    @router.patch(
        "/{session_id}",
        response_model=SessionDetail,
        summary="Set a session's name and/or state (the state is replaced whole)",
        dependencies=[Depends(_bounded_json)],
        responses=_answers(400, 404, 413, 422, 503),
    )
    async def update_session(
        session_id: SessionId,
        body: UpdateSessionRequest,
        db: Db,
        session_type: TypeClaim = None,
        user_id: UserClaim = None,
    ) -> Response:
        for field, what in (("metadata", "session metadata"), ("summary", "session summaries")):
            if getattr(body, field) is not None:
                raise HTTPException(400, f"kern keeps no {what}: leave {field} out")
        return await update(
            db,
            session_id,
            session_type,
            user_id,
            session_name=body.session_name,
            session_state=body.session_state,
        )

    @router.delete(
        "/{session_id}",
        status_code=204,
        summary="Delete a session and all its runs",
        responses=_answers(400, 404, 422, 503),
    )
    async def delete_session(
        session_id: SessionId, db: Db, user_id: UserClaim = None, _media: DeleteMedia = False
    ) -> Response:
        if not await in_db(lambda: db.delete_sessions([session_id], user_id)):
            raise HTTPException(status_code=404, detail=_not_found(session_id, user_id))
        return Response(status_code=204)

    return router


async def _bounded_json(request: Request) -> None:
    """A JSON body within `kern.os.limits` (depth, integer size, valid Unicode), as the run routes take."""
    body = await request.body()
    if body.strip():
        try:
            parse_json(body)
        except InvalidJson as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None


def _statuses(given: list[str] | None) -> list[str] | None:
    """Agno's status filter: any case, one of Agno's statuses (a 400 naming the others)."""
    if not given:
        return None
    wanted = {value.upper() for value in given}
    unknown = sorted(wanted - set(AGNO_RUN_STATUSES))
    if unknown:
        raise HTTPException(
            400, f"Invalid status value(s) {unknown}; expected one of {sorted(AGNO_RUN_STATUSES)}"
        )
    return sorted(wanted)


def _not_found(session_id: str, user_id: str | None) -> str:
    """The same answer whether the session does not exist or is another user's."""
    return f"session {session_id!r}{f' of user {user_id!r}' if user_id else ''} not found"
