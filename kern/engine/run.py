"""The one place where a run's outcome becomes its single terminal event and its stored record."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kern.db import reader, writer
from kern.db.base import DatabaseError
from kern.engine.debug import debug, debug_messages
from kern.engine.default_tools import chat_history_tool, update_session_state_tool
from kern.engine.hooks import run_post_hooks, run_pre_hooks
from kern.engine.introduction import introduce
from kern.engine.pause import RunPaused, restore
from kern.engine.run_context import open_context, resolve
from kern.engine.state import RunState
from kern.engine.structured import StructuredOutputError
from kern.errors import describe
from kern.exceptions import CheckError
from kern.messages import Message
from kern.models.base import ModelError
from kern.run.agent import RunOutput
from kern.run.base import RunStatus
from kern.sessions import session_messages

logger = logging.getLogger(__name__)

START_WAIT_SECONDS = 2.0
"""How long a run waits for its database at the start: the session's history (no answer in time fails
the run), and its RUNNING record (no answer in time: the run goes on and the record is written later;
an error fails the run before any model call)."""
FINAL_WAIT_SECONDS = 2.0
"""How long a run waits for its final record to be saved before it emits its terminal event anyway.
A healthy database answers in milliseconds, so whoever sees the terminal event can read the record; a
slow, locked, frozen or stopped one delays the event by at most this much per level of team nesting
(a team's record waits for its members' terminal events), and the event's `storage_error` says why
the record is not saved. A database that answers with an error (down, read-only) ends the wait at once."""

RunBody = Callable[[RunState], Awaitable[None]]
Gate = Callable[[], Awaitable[bool]]
"""Awaited before any model call; False means the run was cancelled before it started."""
Turn = Callable[[], Awaitable[None]]
"""Awaited before the run's first event: its turn under the component's `Admission` (`QueueTimeout`)."""


class EmptyInputError(ValueError):
    """The run's input is empty."""


class QueueTimeout(Exception):
    """The run waited its `Admission.queue_seconds` for a turn, and never started."""


async def execute_run(
    ctx: RunState, body: RunBody, gate: Gate | None = None, turn: Turn | None = None
) -> RunOutput:
    """Run `body` and end the run with exactly one terminal event, whatever happens.

    A run waits for its `turn` first (it may be queued); `RunStarted` comes next, before any model call.
    A cancel (the task being cancelled, or a cancel that arrived before the run began) becomes
    `RunCancelled` with the partial answer; an exception becomes `RunError` naming its cause. The final
    record is saved before the terminal event is emitted, so whoever sees the terminal event can read it
    back; but no run waits on its database for more than `FINAL_WAIT_SECONDS`: then the event says why
    in `storage_error`, and the process's writer keeps the record until the database takes it
    (kern.db.writer).
    """
    ctx.begun = True
    queue_timeout = await _wait_turn(ctx, turn)
    paused_record = ctx.request.resume
    if paused_record is None:
        ctx.emit("started", model=ctx.spec.model.id, model_provider=ctx.spec.model.provider)
    else:
        ctx.emit("continued")
    status, error, error_type = RunStatus.completed, None, "Error"
    try:
        if queue_timeout is not None:
            raise queue_timeout
        if ctx.cancel_requested or (gate is not None and not await gate()):
            raise asyncio.CancelledError
        if not ctx.request.input.strip():
            raise EmptyInputError("The run's input is empty: send a non-empty message")
        ctx.run_context = await open_context(ctx)
        if ctx.spec.enable_agentic_state:
            ctx.tools.append(update_session_state_tool())
        if ctx.spec.read_chat_history and ctx.spec.db is not None:
            ctx.tools.append(chat_history_tool(ctx))
        if paused_record is None:
            await run_pre_hooks(ctx)
            await introduce(ctx)
            ctx.messages = await _initial_messages(ctx)
        else:
            restore(ctx, paused_record)
        debug_messages(ctx, ctx.messages)
        await _store_start(ctx)
        await body(ctx)
        await run_post_hooks(ctx)
    except RunPaused:
        status = RunStatus.paused
    except asyncio.CancelledError:
        status = RunStatus.cancelled
    except Exception as exc:
        status, error, error_type = RunStatus.error, _describe(exc), type(exc).__name__
        if isinstance(exc, ModelError | CheckError):
            error_type = exc.error_type
    if ctx.cancel_requested and status is not RunStatus.cancelled:
        # The cancel was answered True, so the run ends cancelled even if something swallowed the
        # cancel (a model adapter, a tool) or failed because of it.
        logger.info("Run %s was cancelled; it had ended %s (%s)", ctx.run_id, status.value, error)
        status, error = RunStatus.cancelled, None
    if status is RunStatus.cancelled:
        task = asyncio.current_task()
        while task is not None and task.cancelling():
            task.uncancel()
    ctx.finishing = True
    output = ctx.output(status, error)
    debug(ctx, "%s%s; %s", status.value, f" ({error})" if error else "", ctx.metrics)
    ending: dict[str, Any] = {
        # A paused run's record goes to its caller, who may continue it without a db (`continue_run`).
        "output": output if ctx.request.yield_run_output or status is RunStatus.paused else None,
        "metrics": ctx.metrics,
        "session_state": output.session_state,
        "storage_error": await _store(ctx, output),
    }
    if status is RunStatus.completed:
        ctx.emit("completed", content=ctx.content, content_type=ctx.content_type, **ending)
    elif status is RunStatus.cancelled:
        ctx.emit("cancelled", content=ctx.content, **ending)
    elif status is RunStatus.paused:
        waiting = [tool for tool in ctx.tool_executions if tool.is_paused]
        ctx.emit("paused", content=ctx.content, tools=waiting, requirements=ctx.requirements, **ending)
    else:
        ctx.emit("error", content=error or "", error_type=error_type, partial_content=ctx.content, **ending)
    return output


async def _wait_turn(ctx: RunState, turn: Turn | None) -> QueueTimeout | None:
    """Wait for the run's turn; a cancel meanwhile ends the wait (the run then ends cancelled)."""
    if turn is None or ctx.cancel_requested:
        return None
    try:
        await turn()
    except asyncio.CancelledError:
        ctx.cancel_requested = True
    except QueueTimeout as exc:
        return exc
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelError | EmptyInputError | CheckError | StructuredOutputError | QueueTimeout):
        return str(exc)
    return describe(exc)


async def _initial_messages(ctx: RunState) -> list[Message]:
    """System prompt, then the messages of earlier runs of the session when history is on (Agno's: tool
    calls included; for a member, its own earlier runs in its team's session), then the new input."""
    messages: list[Message] = []
    system = ctx.spec.system_prompt(ctx.run_context)
    if system:
        messages.append(Message(role="system", content=system))
    db = ctx.spec.db
    if db is not None and ctx.spec.add_history_to_context:
        session_id, component_id = ctx.request.session_id, ctx.spec.id
        limit = ctx.spec.num_history_messages
        runs = ctx.spec.num_history_runs if limit is None else limit  # (a run gives at least two messages)
        # A member's history is its own earlier runs in its team's session (as Agno gives it).
        top_level = ctx.request.parent_run_id is None
        history = await reader.read(
            db,
            lambda d: d.get_history(session_id, component_id, runs, top_level=top_level),
            START_WAIT_SECONDS,
        )
        earlier = [
            message.model_copy(update={"from_history": True})
            for message in session_messages(history, skip_roles=("system",))
        ]
        if limit is not None:
            earlier = earlier[-limit:] if limit > 0 else []
        while earlier and earlier[0].role == "tool":  # (its call was cut off by the limit)
            earlier.pop(0)
        messages.extend(earlier)
    messages.append(Message(role="user", content=_user_message(ctx)))
    return messages


def _user_message(ctx: RunState) -> str:
    """The input, its placeholders resolved, and the dependencies after it when asked (as in Agno)."""
    text = ctx.request.input
    context = ctx.run_context
    if ctx.spec.resolve_in_context:
        text = resolve(text, context)
    if ctx.spec.add_dependencies_to_context and context is not None and context.dependencies is not None:
        shown = json.dumps(context.dependencies, indent=2, default=str, ensure_ascii=False)
        text += f"\n\n<additional context>\n{shown}\n</additional context>"
    return text


async def _store_start(ctx: RunState) -> None:
    """Save the RUNNING record: a database that refuses it fails the run; one that is slow does not."""
    if ctx.spec.db is None:
        return
    result = await writer.save(ctx.spec.db, ctx.output(RunStatus.running), START_WAIT_SECONDS)
    if result.refused:
        raise DatabaseError(f"the run could not be stored: {result.cause}")
    if result.problem is not None:
        logger.warning("Run %s goes on before its RUNNING record is saved: %s", ctx.run_id, result.problem)


async def _store(ctx: RunState, output: RunOutput) -> str | None:
    """Save the final record, waiting at most `FINAL_WAIT_SECONDS`; why it is not saved, if it is not."""
    if ctx.spec.db is None:
        return None
    result = await writer.save(ctx.spec.db, output, FINAL_WAIT_SECONDS)
    if result.problem is not None:
        logger.error("Run %s ends before its %s record is saved: %s", ctx.run_id, output.status.value,
                     result.problem)  # fmt: skip
    return result.problem
