"""`introduction`: a new session starts with the component's introduction, stored as a run of its own
whose one message is the assistant's introduction (as Agno stores it), so the history and the chat
history of the session begin with it."""

from __future__ import annotations

from kern.db import reader, writer
from kern.db.base import DatabaseError
from kern.engine.state import RunState
from kern.messages import Message
from kern.run.base import RunStatus
from kern.specs import RunRequest, new_id, run_record

WAIT_SECONDS = 2.0
"""How long a run waits for its database to say whether its session is new, and to take the
introduction."""


async def introduce(state: RunState) -> None:
    """Store the introduction run if this top-level run opens a new session."""
    spec, request = state.spec, state.request
    if spec.introduction is None or spec.db is None or request.parent_run_id is not None:
        return
    session_id = request.session_id
    found = await reader.read(spec.db, lambda d: d.get_session(session_id, with_runs=False), WAIT_SECONDS)
    if found is not None:
        return
    opening = RunRequest(input="", run_id=new_id(), session_id=session_id, user_id=request.user_id)
    record = run_record(
        spec, opening, content=spec.introduction, status=RunStatus.completed,
        created_at=state.created_at - 1e-3,  # (just before the run it opens)
        messages=[Message(role="assistant", content=spec.introduction)],
    )  # fmt: skip
    saved = await writer.save(spec.db, record, WAIT_SECONDS)
    if saved.refused:
        raise DatabaseError(f"the session's introduction could not be stored: {saved.cause}")
