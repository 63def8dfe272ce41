"""Session routes: list and filter sessions, read one with its runs, delete one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from kern.db import SessionRecord
from kern.os.agentos import AgentOS
from kern.os.limits import ID_PATTERN, ID_RULE
from kern.os.schemas import SessionSummary, answers
from kern.os.storage import in_db, require_db
from kern.run.agent import RunOutput
from kern.run.team import TeamRunOutput

SessionId = Annotated[str, Path(pattern=ID_PATTERN, description=f"The session's id: {ID_RULE}")]
UserClaim = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="If given, the session must be this user's")
]


def session_router(agent_os: AgentOS) -> APIRouter:
    """`/sessions/...` routes reading the AgentOS database."""
    router = APIRouter(prefix="/sessions", tags=["Sessions"])

    async def load(session_id: str, user_id: str | None) -> SessionRecord:
        record = await in_db(require_db(agent_os).get_session, session_id)
        if record is None or user_id not in (None, record.user_id):
            raise HTTPException(status_code=404, detail=_not_found(session_id, user_id))
        return record

    @router.get(
        "",
        response_model=list[SessionSummary],
        summary="List sessions, most recently updated first",
        responses=answers(404, 422, 503),
    )
    async def list_sessions(
        session_type: Annotated[Literal["agent", "team"] | None, Query(alias="type")] = None,
        component_id: Annotated[str | None, Query(description="An agent's or team's id")] = None,
        user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[SessionSummary]:
        db = require_db(agent_os)
        records = await in_db(db.get_sessions, session_type, component_id, user_id, limit)
        return [SessionSummary(**record.model_dump(exclude={"runs"})) for record in records]

    @router.get(
        "/{session_id}",
        response_model=SessionRecord,
        summary="Get a session with its runs",
        responses=answers(404, 422, 503),
    )
    async def get_session(session_id: SessionId, user_id: UserClaim = None) -> Response:
        return JSONResponse((await load(session_id, user_id)).model_dump(mode="json"))

    @router.get(
        "/{session_id}/runs",
        response_model=list[TeamRunOutput | RunOutput],
        summary="The session's runs in start order (member runs inside their team runs)",
        responses=answers(404, 422, 503),
    )
    async def get_session_runs(session_id: SessionId, user_id: UserClaim = None) -> Response:
        record = await load(session_id, user_id)
        return JSONResponse([run.model_dump(mode="json") for run in record.runs])

    @router.delete(
        "/{session_id}",
        status_code=204,
        summary="Delete a session and all its runs",
        responses=answers(404, 422, 503),
    )
    async def delete_session(session_id: SessionId, user_id: UserClaim = None) -> Response:
        if user_id is not None:
            await load(session_id, user_id)
        if not await in_db(require_db(agent_os).delete_session, session_id):
            raise HTTPException(status_code=404, detail=_not_found(session_id, user_id))
        return Response(status_code=204)

    return router


def _not_found(session_id: str, user_id: str | None) -> str:
    """The same answer whether the session does not exist or is another user's."""
    return f"session {session_id!r}{f' of user {user_id!r}' if user_id else ''} not found"
