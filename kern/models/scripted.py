"""`ScriptedModel`: a model that plays a script in process, no HTTP, for testing agents and teams.

Each model call of a run plays the next reply of the script (the first call of a run the first reply,
the call after the tool results the second...): text deltas, tool calls, waits, stalls and errors. Any
step can be held at a named cue until the test releases it, so a test can act (cancel, fail something)
at an exact point of a run: `await cue("name").reached()`, act, then `cue("name").release()`.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from kern.messages import Message, ToolCall
from kern.models.base import NO_OPTIONS, CallOptions, Model, ModelError, ModelResponse, TextDelta


class Cue:
    """A named point where scripts wait until the test lets them through."""

    def __init__(self) -> None:
        self._reached = asyncio.Event()
        self._released = asyncio.Event()

    async def reached(self) -> None:
        """Wait until a script (or anything calling `hold`) arrives at this cue."""
        await self._reached.wait()

    def release(self) -> None:
        """Let everything held at this cue go on, now and later."""
        self._released.set()

    async def hold(self) -> None:
        """Arrive at this cue and wait for its release."""
        self._reached.set()
        await self._released.wait()


_CUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Cue]] = weakref.WeakKeyDictionary()


def cue(name: str) -> Cue:
    """The cue of this name on the running event loop (each loop has its own)."""
    cues = _CUES.setdefault(asyncio.get_running_loop(), {})
    return cues.setdefault(name, Cue())


class Step(BaseModel):
    """One step of a scripted reply."""

    after: str | None = None
    """Hold the step at the cue of this name until the test releases it."""
    swallows_cancel: bool = False
    """A cancel while the step waits ends the reply there, as if the model had finished, instead of
    propagating: an adapter that swallows cancels, for testing how a runtime copes with one."""


class Text(Step):
    """Stream a piece of the answer."""

    kind: Literal["text"] = "text"
    text: str


class Call(Step):
    """Ask for a tool call (the reply's tool calls run in parallel once the reply ends)."""

    kind: Literal["call"] = "call"
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Wait(Step):
    """Pause (a slow model)."""

    kind: Literal["wait"] = "wait"
    seconds: float = 0.0


class Stall(Step):
    """Never go on (a model that hangs), until cancelled."""

    kind: Literal["stall"] = "stall"


class Fail(Step):
    """Fail the call with a `ModelError` (an error before the first token, or a stream broken mid-way)."""

    kind: Literal["fail"] = "fail"
    message: str = "scripted failure"
    error_type: str = "ModelError"


ScriptStep = Annotated[Text | Call | Wait | Stall | Fail, Field(discriminator="kind")]


def delegate(member_id: str, task: str) -> Call:
    """A team leader's call that gives `task` to one member."""
    return Call(name="delegate_task_to_member", arguments={"member_id": member_id, "task": task})


def delegate_to_all(task: str) -> Call:
    """A broadcast team leader's call that gives `task` to every member."""
    return Call(name="delegate_task_to_members", arguments={"task": task})


class ScriptedModel(Model):
    """Replies from `replies`, by turn: a run's n-th model call plays `replies[n]`.

    Plain data, picklable like any model, so it travels to actors; cues are per process and event loop.
    """

    id: str = "scripted"
    replies: list[list[ScriptStep]]

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> AsyncGenerator[TextDelta | ModelResponse]:
        """Play this turn's reply: its text as deltas, then the whole reply."""
        turn = _turn(messages)
        if turn >= len(self.replies):
            raise ModelError(f"Model {self.id!r} has no reply {turn + 1} in its script ({len(self.replies)})")
        reply = ModelResponse(input_tokens=len(messages))
        for step in self.replies[turn]:
            if not await _arrive(step):
                break
            if isinstance(step, Text):
                reply.content += step.text
                reply.output_tokens += 1
                yield TextDelta(step.text)
            elif isinstance(step, Call):
                call_id = f"call_{turn}_{len(reply.tool_calls)}"
                reply.tool_calls.append(
                    ToolCall(id=call_id, name=step.name, arguments=json.dumps(step.arguments))
                )
            elif isinstance(step, Fail):
                raise ModelError(f"Model {self.id!r}: {step.message}", error_type=step.error_type)
        yield reply

    async def response(
        self, messages: list[Message], tools: list[dict[str, Any]], options: CallOptions = NO_OPTIONS
    ) -> ModelResponse:
        """The same reply, whole."""
        reply = ModelResponse()
        async for item in self.stream(messages, tools, options):
            if isinstance(item, ModelResponse):
                reply = item
        return reply


def _turn(messages: list[Message]) -> int:
    """How many replies the model has given since the run's input (the last user message)."""
    turn = 0
    for message in reversed(messages):
        if message.role == "user":
            break
        turn += message.role == "assistant"
    return turn


async def _arrive(step: ScriptStep) -> bool:
    """Wait as the step says; False if a cancel came and the step swallows it (the reply ends here)."""
    try:
        if step.after is not None:
            await cue(step.after).hold()
        if isinstance(step, Wait):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Stall):
            await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError:
        if step.swallows_cancel:
            return False
        raise
    return True
