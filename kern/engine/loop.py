"""The model loop: call the model, run the tools it asks for, repeat until it answers."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

from kern.engine.debug import debug
from kern.engine.gather import gather_all
from kern.engine.pause import MembersPaused, answer_waiting_calls, held_by_members, pause, waits
from kern.engine.state import RunState
from kern.engine.structured import OutputSchema, content_type, parse_output, response_format
from kern.messages import Message, ToolCall
from kern.models.base import CallOptions, ModelError, ModelResponse, TextDelta
from kern.run.base import ToolExecution
from kern.tools import Function
from kern.tools.function import ToolArgumentsError


class RunLoopError(RuntimeError):
    """The run loop could not go on (for example a model that never stops calling tools)."""


async def model_loop(ctx: RunState) -> None:
    """Drive the conversation in `ctx.messages` to an answer, streaming content and tool events.

    With an output schema the model's replies are not streamed (as in Agno): the answer comes as one
    content event carrying the schema's instance, or the run fails naming what does not fit."""
    by_name = {function.name: function for function in ctx.tools}
    definitions = [function.definition() for function in ctx.tools]
    options = CallOptions(response_format=response_format(ctx.spec), tool_choice=ctx.spec.tool_choice)
    calls_left = ctx.spec.tool_call_limit
    if ctx.request.resume is not None:
        answer = await answer_waiting_calls(ctx, _run_tool)
        if held_by_members(ctx):  # (a member paused again)
            raise pause(ctx, [])
        if answer is not None:
            ctx.content = answer
            return
    for _ in range(ctx.spec.max_model_calls):
        _stop_if_cancelled(ctx)
        reply = await _call_with_retries(ctx, definitions, options)
        ctx.messages.append(Message(role="assistant", content=reply.content, tool_calls=reply.tool_calls))
        debug(ctx, "assistant: %s %s", reply.content, [f"{c.name}({c.arguments})" for c in reply.tool_calls])
        if not reply.tool_calls:
            if ctx.spec.output_schema is not None:
                _take_structured(ctx, ctx.spec.output_schema, reply.content)
            return
        _stop_if_cancelled(ctx)
        allowed = reply.tool_calls if calls_left is None else reply.tool_calls[:calls_left]
        if calls_left is not None:
            calls_left -= len(allowed)
        waiting = [call for call in allowed if waits(by_name.get(call.name), call)]
        results = await gather_all(
            *(_run_tool(ctx, by_name.get(call.name), call) for call in allowed if call not in waiting),
            *(_refuse_over_limit(call) for call in reply.tool_calls[len(allowed) :]),
        )
        held = {tool.tool_call_id for tool in ctx.tool_executions if tool.waiting_for_members}
        ctx.messages.extend(message for message, _ in results if message.tool_call_id not in held)
        if waiting or held:
            raise pause(ctx, [(by_name[call.name], call) for call in waiting])
        final = [message.content for message, stop in results if stop]
        if final:
            ctx.content = "\n\n".join(final)
            return
    raise RunLoopError(
        f"The model was still calling tools after {ctx.spec.max_model_calls} model calls (max_model_calls)"
    )


def _stop_if_cancelled(ctx: RunState) -> None:
    """A cancel that a model adapter or a tool swallowed still stops the run before its next step."""
    if ctx.cancel_requested:
        raise asyncio.CancelledError


def _take_structured(ctx: RunState, schema: OutputSchema, text: str) -> None:
    ctx.content = parse_output(schema, text)
    ctx.content_type = content_type(schema)
    ctx.emit("content", content=ctx.content, content_type=ctx.content_type)


async def _refuse_over_limit(call: ToolCall) -> tuple[Message, bool]:
    """A tool call past `tool_call_limit`: not run, and the model is told so (Agno's words)."""
    text = f"Tool call limit reached. Tool call {call.name} not executed. Don't try to execute it again."
    return Message(role="tool", tool_call_id=call.id, name=call.name, content=text), False


async def _call_with_retries(
    ctx: RunState, definitions: list[dict[str, Any]], options: CallOptions
) -> ModelResponse:
    """One model call, between its `ModelRequest` events; tried again (`retries`, with its delay and
    backoff) when it fails before streaming anything, since a retry cannot take back what was sent."""
    model = ctx.spec.model
    identity: dict[str, Any] = {"model": model.id, "model_provider": model.provider}
    spec = ctx.spec
    for attempt in range(spec.retries + 1):
        ctx.emit("model_request_started", **identity)
        before, started = len(ctx.content) if isinstance(ctx.content, str) else 0, time.monotonic()
        first: list[float] = []
        try:
            reply = await _call_model(ctx, definitions, options, first)
        except ModelError:
            streamed = isinstance(ctx.content, str) and len(ctx.content) > before
            if attempt == spec.retries or streamed:
                raise
            await asyncio.sleep(spec.delay_between_retries * (2**attempt if spec.exponential_backoff else 1))
            continue
        ctx.emit(
            "model_request_completed", **identity, input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens, total_tokens=reply.input_tokens + reply.output_tokens,
            time_to_first_token=first[0] - started if first else None,
        )  # fmt: skip
        if reply.content and spec.output_schema is None:
            ctx.emit("content_completed")
        return reply
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _call_model(
    ctx: RunState, definitions: list[dict[str, Any]], options: CallOptions, first: list[float]
) -> ModelResponse:
    """The call itself; `first` gets the time its first text arrived."""
    model = ctx.spec.model
    if ctx.spec.output_schema is not None:
        reply = await model.response(ctx.messages, definitions, options)
    elif not ctx.request.stream:
        reply = await model.response(ctx.messages, definitions, options)
        ctx.add_content(reply.content)
    else:
        reply = ModelResponse()
        async with aclosing(model.stream(ctx.messages, definitions, options)) as stream:
            async for item in stream:
                if isinstance(item, TextDelta):
                    if not first:
                        first.append(time.monotonic())
                    ctx.add_content(item.text)
                else:
                    reply = item
    ctx.metrics.add_usage(reply.input_tokens, reply.output_tokens)
    return reply


async def _run_tool(
    ctx: RunState, function: Function | None, call: ToolCall, execution: ToolExecution | None = None
) -> tuple[Message, bool]:
    """Run one tool call (filling in `execution`, that of a call the run paused at, if given); a failure
    becomes `ToolCallError` and its message goes back to the model."""
    execution = execution or ToolExecution(tool_call_id=call.id, tool_name=call.name)
    started = time.monotonic()
    try:
        if function is None:
            available = ", ".join(sorted(f.name for f in ctx.tools)) or "none"
            raise ToolArgumentsError(f"Unknown tool {call.name!r}; available tools: {available}")
        arguments = function.parse_arguments(call.arguments)
        execution.tool_args = arguments
        ctx.emit("tool_started", tool=execution.model_copy())
        result = await function.call(arguments, ctx.run_context, ctx.spec.tool_hooks, ctx.spec)
    except asyncio.CancelledError:
        execution.error = "cancelled"
        ctx.tool_executions.append(execution)
        raise
    except MembersPaused as paused:
        execution.member_run_ids, execution.waiting_for_members = paused.member_run_ids, True
        ctx.tool_executions.append(execution)
        return Message(role="tool", tool_call_id=call.id, name=call.name, content=""), False
    except Exception as exc:
        execution.error = f"{type(exc).__name__}: {exc}"
        execution.duration = time.monotonic() - started
        ctx.tool_executions.append(execution)
        ctx.emit("tool_error", tool=execution, content=execution.error)
        return Message(
            role="tool", tool_call_id=call.id, name=call.name, content=f"Error: {execution.error}"
        ), False
    execution.result = result
    execution.duration = time.monotonic() - started
    if function.show_result:
        ctx.add_content(result)
    debug(ctx, "tool %s -> %s", call.name, result)
    ctx.tool_executions.append(execution)
    ctx.emit("tool_completed", tool=execution, content=result)
    return Message(
        role="tool", tool_call_id=call.id, name=call.name, content=result
    ), function.stop_after_call
