"""The model loop: call the model, run the tools it asks for, repeat until it answers."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

from kern.engine.gather import gather_all
from kern.engine.state import RunState
from kern.engine.structured import OutputSchema, content_type, parse_output, response_format
from kern.messages import Message, ToolCall
from kern.models.base import CallOptions, ModelResponse, TextDelta
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
    options = CallOptions(response_format=response_format(ctx.spec))
    for _ in range(ctx.spec.max_model_calls):
        _stop_if_cancelled(ctx)
        reply = await _call_model(ctx, definitions, options)
        ctx.messages.append(Message(role="assistant", content=reply.content, tool_calls=reply.tool_calls))
        if not reply.tool_calls:
            if ctx.spec.output_schema is not None:
                _take_structured(ctx, ctx.spec.output_schema, reply.content)
            return
        _stop_if_cancelled(ctx)
        results = await gather_all(
            *(_run_tool(ctx, by_name.get(call.name), call) for call in reply.tool_calls)
        )
        ctx.messages.extend(message for message, _ in results)
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


async def _call_model(
    ctx: RunState, definitions: list[dict[str, Any]], options: CallOptions
) -> ModelResponse:
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
                    ctx.add_content(item.text)
                else:
                    reply = item
    ctx.metrics.add_usage(reply.input_tokens, reply.output_tokens)
    if reply.content:
        ctx.emit("content_completed")
    return reply


async def _run_tool(ctx: RunState, function: Function | None, call: ToolCall) -> tuple[Message, bool]:
    """Run one tool call; a failure becomes `ToolCallError` and its message goes back to the model."""
    execution = ToolExecution(tool_call_id=call.id, tool_name=call.name)
    started = time.monotonic()
    try:
        if function is None:
            available = ", ".join(sorted(f.name for f in ctx.tools)) or "none"
            raise ToolArgumentsError(f"Unknown tool {call.name!r}; available tools: {available}")
        arguments = function.parse_arguments(call.arguments)
        execution.tool_args = arguments
        ctx.emit("tool_started", tool=execution.model_copy())
        result = await function.call(arguments, ctx.run_context)
    except asyncio.CancelledError:
        execution.error = "cancelled"
        ctx.tool_executions.append(execution)
        raise
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
    ctx.tool_executions.append(execution)
    ctx.emit("tool_completed", tool=execution, content=result)
    return Message(
        role="tool", tool_call_id=call.id, name=call.name, content=result
    ), function.stop_after_call
