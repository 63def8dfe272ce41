"""The one place where a run's outcome becomes its single terminal event and its stored record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kern.engine.context import RunContext
from kern.messages import Message
from kern.models.base import ModelError
from kern.run.agent import RunOutput
from kern.run.base import RunStatus

logger = logging.getLogger(__name__)

RunBody = Callable[[RunContext], Awaitable[None]]
Gate = Callable[[], Awaitable[bool]]
"""Awaited before any model call; False means the run was cancelled before it started."""


class EmptyInputError(ValueError):
    """The run's input is empty."""


async def execute_run(ctx: RunContext, body: RunBody, gate: Gate | None = None) -> RunOutput:
    """Run `body` and end the run with exactly one terminal event, whatever happens.

    `RunStarted` comes first, before any model call. A cancel (the task being cancelled, or a cancel
    that arrived before the run began) becomes `RunCancelled` with the partial answer; an exception
    becomes `RunError` naming its cause. The record is stored before the terminal event is emitted,
    so whoever sees the terminal event can read the record back.
    """
    ctx.begun = True
    ctx.emit("started", model=ctx.spec.model.id)
    status, error, error_type = RunStatus.completed, None, "Error"
    try:
        if ctx.cancel_requested or (gate is not None and not await gate()):
            raise asyncio.CancelledError
        if not ctx.request.input.strip():
            raise EmptyInputError("The run's input is empty: send a non-empty message")
        ctx.messages = await _initial_messages(ctx)
        await _store(ctx, ctx.output(RunStatus.running))
        await body(ctx)
    except asyncio.CancelledError:
        status = RunStatus.cancelled
        task = asyncio.current_task()
        while task is not None and task.cancelling():
            task.uncancel()
    except Exception as exc:
        status, error, error_type = RunStatus.error, _describe(exc), type(exc).__name__
        if isinstance(exc, ModelError):
            error_type = exc.error_type
    ctx.finishing = True
    output = ctx.output(status, error)
    try:
        await _store(ctx, output)
    except Exception as exc:
        logger.exception("Could not store run %s", ctx.run_id)
        if status is RunStatus.completed:
            status, error, error_type = RunStatus.error, _describe(exc), type(exc).__name__
            output = ctx.output(status, error)
    if status is RunStatus.completed:
        ctx.emit("completed", content=ctx.content, metrics=ctx.metrics)
    elif status is RunStatus.cancelled:
        ctx.emit("cancelled", content=ctx.content, metrics=ctx.metrics)
    else:
        ctx.emit("error", content=error or "", error_type=error_type, partial_content=ctx.content,
                 metrics=ctx.metrics)  # fmt: skip
    return output


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelError | EmptyInputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def _initial_messages(ctx: RunContext) -> list[Message]:
    """System prompt, then earlier turns of the session when history is on, then the new input."""
    messages: list[Message] = []
    system = ctx.spec.system_prompt()
    if system:
        messages.append(Message(role="system", content=system))
    db = ctx.spec.db
    if db is not None and ctx.spec.add_history_to_context and ctx.request.parent_run_id is None:
        history = await asyncio.to_thread(
            db.get_history, ctx.request.session_id, ctx.spec.id, ctx.spec.num_history_runs
        )
        for run in history:
            messages.append(Message(role="user", content=run.input))
            messages.append(Message(role="assistant", content=run.content))
    messages.append(Message(role="user", content=ctx.request.input))
    return messages


async def _store(ctx: RunContext, output: RunOutput) -> None:
    if ctx.spec.db is not None:
        await asyncio.to_thread(ctx.spec.db.save_run, output)
