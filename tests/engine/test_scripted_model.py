"""The scripted model: replies by turn, cues, stalls and errors, in process."""

from __future__ import annotations

import asyncio
import pickle

from kern.engine.local import LocalLink
from kern.messages import Message
from kern.models.base import ModelResponse
from kern.models.scripted import Call, Fail, ScriptedModel, Stall, Text, Wait, cue
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest
from kern.tools import tool
from tests.support import names


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def agent(*replies: list[Text | Call | Wait | Stall | Fail]) -> AgentSpec:
    return AgentSpec(id="calc", name="Calc", model=ScriptedModel(replies=list(replies)), tools=[add])


async def run(spec: AgentSpec) -> list[BaseRunEvent]:
    return [event async for event in LocalLink().events(spec, RunRequest(input="What is 2 + 3?"))]


def test_replies_by_turn_with_tool_calls_between() -> None:
    spec = agent(
        [Text(text="Let me add. "), Call(name="add", arguments={"a": 2, "b": 3})],
        [Text(text="It is "), Text(text="5.")],
    )
    events = asyncio.run(run(spec))
    assert names(events) == [
        "RunStarted", "RunContent", "RunContentCompleted", "ToolCallStarted", "ToolCallCompleted",
        "RunContent", "RunContentCompleted", "RunCompleted",
    ]  # fmt: skip
    assert events[-1].content == "Let me add. It is 5."
    assert next(e for e in events if e.event.value == "ToolCallCompleted").content == "5"


def test_a_step_is_held_at_its_cue_until_released() -> None:
    async def main() -> tuple[list[str], list[BaseRunEvent]]:
        seen: list[str] = []
        spec = agent([Text(text="Hello"), Text(text=" world", after="second")])
        running = asyncio.create_task(run(spec))
        await cue("second").reached()
        seen.append("reached")
        cue("second").release()
        return seen, await running

    seen, events = asyncio.run(main())
    assert seen == ["reached"] and events[-1].content == "Hello world"


def test_a_stall_ends_only_with_a_cancel() -> None:
    async def main() -> tuple[bool, list[BaseRunEvent]]:
        link = LocalLink()
        request = RunRequest(input="Hi")
        spec = agent([Text(text="Thinking"), Stall(after="stalled")])
        running = asyncio.create_task(_collect(link, spec, request))
        await cue("stalled").reached()
        cue("stalled").release()
        await asyncio.sleep(0.01)
        return link.cancel(request.run_id), await running

    cancelled, events = asyncio.run(main())
    assert cancelled and names(events)[-1] == "RunCancelled" and events[-1].content == "Thinking"


def test_a_failure_ends_the_run_with_its_error() -> None:
    events = asyncio.run(
        run(agent([Text(text="Half"), Fail(message="the stream broke", error_type="Dropped")]))
    )
    assert names(events)[-1] == "RunError"
    assert events[-1].error_type == "Dropped" and "the stream broke" in events[-1].content
    assert events[-1].partial_content == "Half"


def test_a_run_past_the_script_fails_naming_it() -> None:
    events = asyncio.run(run(agent([Call(name="add", arguments={"a": 1, "b": 1})])))
    assert names(events)[-1] == "RunError" and "no reply 2" in events[-1].content


def test_non_streaming_reply_and_waits() -> None:
    model = ScriptedModel(replies=[[Wait(seconds=0.001), Text(text="a"), Text(text="b")]])
    reply = asyncio.run(model.response([Message(role="user", content="Hi")], []))
    assert isinstance(reply, ModelResponse) and reply.content == "ab" and reply.output_tokens == 2


def test_picklable_like_any_model() -> None:
    model = ScriptedModel(replies=[[Text(text="a", after="cue"), Call(name="add", arguments={"a": 1})]])
    assert pickle.loads(pickle.dumps(model)) == model


async def _collect(link: LocalLink, spec: AgentSpec, request: RunRequest) -> list[BaseRunEvent]:
    return [event async for event in link.events(spec, request)]
