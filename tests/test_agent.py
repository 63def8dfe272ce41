"""An agent's runs on its Ray actor, through the real openai SDK and the local model server over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kern.agent import Agent
from kern.model_server import Fault, ModelServer
from kern.run.agent import RunEvent, RunOutput
from kern.run.base import RunStatus
from kern.specs import new_id
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def get_weather(city: str) -> str:
    """Get the weather in a city.

    Args:
        city: The city.
    """
    return f"Sunny in {city}"


async def get_time(city: str) -> str:
    """Get the local time in a city."""
    await asyncio.sleep(0.01)
    return f"12:00 in {city}"


def broken_tool(city: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"no data for {city}")


def slow_sync_tool(city: str) -> str:
    """A sync tool that blocks for a long time."""
    time.sleep(30)
    return "never"


async def slow_async_tool(city: str) -> str:
    """An async tool that waits for a long time."""
    await asyncio.sleep(30)
    return "never"


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_streaming_run_event_order(server: ModelServer, api: str) -> None:
    agent = Agent(name="Writer", model=model(server, api))
    events = list(agent.run("Tell me a story", stream=True))
    assert names(events, model_requests=True) == [
        "RunStarted", "ModelRequestStarted", "RunContent", "ModelRequestCompleted", "RunContentCompleted",
        "RunCompleted",
    ]  # fmt: skip
    completed = next(e for e in events if e.event == RunEvent.model_request_completed)
    assert completed.output_tokens == 30 and completed.model == agent.spec.model.id
    final = assert_one_terminal_last(events, events[0].run_id)
    text = "".join(e.content for e in events if e.event == RunEvent.run_content)
    assert final.content == text and len(text.split()) == 30
    assert final.status == RunStatus.completed
    assert final.metrics.output_tokens > 0 and final.metrics.input_tokens > 0
    assert all(e.agent_id == "writer" and e.agent_name == "Writer" for e in events)
    assert all(isinstance(e.content, str) for e in events if e.event == RunEvent.run_content)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_non_streaming_run_returns_output(server: ModelServer, api: str) -> None:
    agent = Agent(name="Writer", model=model(server, api), instructions="Be brief.")
    output = agent.run("Tell me a story", session_id="s-1", user_id="u-1")
    assert isinstance(output, RunOutput)
    assert output.status is RunStatus.COMPLETED and len(output.content.split()) == 30
    assert (output.session_id, output.user_id, output.agent_id) == ("s-1", "u-1", "writer")
    assert [m.role for m in output.messages] == ["system", "user", "assistant"]
    assert server.requests[-1].body.get("stream") in (None, False)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_tools_sync_async_and_failing(server: ModelServer, api: str) -> None:
    agent = Agent(name="Helper", model=model(server, api), tools=[get_weather, get_time, broken_tool])
    events = list(agent.run("Use get_weather and get_time and broken_tool for Paris", stream=True))
    seq = names(events)
    assert seq[0] == "RunStarted" and seq[-1] == "RunCompleted"
    assert seq.count("ToolCallStarted") == 3 and seq.count("ToolCallCompleted") == 2
    assert seq.count("ToolCallError") == 1
    by_name = {
        e.tool.tool_name: e
        for e in events
        if e.event in (RunEvent.tool_call_completed, RunEvent.tool_call_error)
    }
    assert by_name["get_weather"].content == "Sunny in example"
    assert by_name["broken_tool"].event == RunEvent.tool_call_error
    assert "RuntimeError: no data for" in by_name["broken_tool"].tool.error
    # The tool results (the error too) went back to the model, which then answered.
    follow_up = server.requests[-1].body
    sent = str(follow_up.get("input") or follow_up.get("messages"))
    assert "Sunny in" in sent and "12:00 in" in sent and "Error: RuntimeError: no data for" in sent
    assert events[-1].content.startswith("Based on ")


def cancel_later(agent: Agent, run_id: str, delay: float, result: dict[str, object]) -> threading.Thread:
    """Cancel `run_id` from another thread after `delay` seconds."""

    def cancel() -> None:
        time.sleep(delay)
        result["at"] = time.monotonic()
        result["cancelled"] = agent.cancel_run(run_id)

    thread = threading.Thread(target=cancel)
    thread.start()
    return thread


def test_cancel_from_another_thread_while_streaming(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server, tokens_per_second=40, reply_words=2000))
    run_id = new_id()
    result: dict[str, object] = {}
    events = []
    for event in agent.run("A long story", stream=True, run_id=run_id):
        events.append(event)
        if len(events) == 5:
            thread = cancel_later(agent, run_id, 0.2, result)
    thread.join(timeout=10)
    seen_at = time.monotonic()
    assert result["cancelled"] is True
    final = assert_one_terminal_last(events, run_id)
    assert final.event == RunEvent.run_cancelled and final.status is RunStatus.cancelled
    partial = "".join(e.content for e in events if e.event == RunEvent.run_content)
    assert final.content == partial and 3 <= len(partial.split()) < 100
    assert seen_at - result["at"] < 1.0
    # The model's HTTP stream was really closed, not left generating.
    closed = server.wait_for_disconnect(timeout=2)
    assert closed.words_sent < 200
    assert agent.cancel_run(run_id) is False, "a finished run cannot be cancelled again"


def test_cancel_while_model_is_stalled_before_first_token(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server, first_token_delay=60))
    run_id = new_id()
    result: dict[str, object] = {}
    stream = agent.run("Think hard", stream=True, run_id=run_id)
    first = next(stream)
    assert first.event == RunEvent.run_started
    server.wait_for_request(lambda r: r.status == "in_progress", timeout=10)
    thread = cancel_later(agent, run_id, 0.0, result)
    events = [first, *stream]
    thread.join(timeout=10)
    assert result["cancelled"] is True
    assert names(events) == ["RunStarted", "RunCancelled"]
    assert events[-1].content == ""
    assert server.wait_for_disconnect(timeout=2).words_sent == 0


def test_non_streaming_run_cancelled_returns_partial_output(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server, tokens_per_second=40, reply_words=2000))
    run_id = new_id()
    result: dict[str, object] = {}

    def cancel_once_the_model_is_working() -> None:
        server.wait_for_request(lambda r: r.status == "in_progress", timeout=20)
        result["cancelled"] = agent.cancel_run(run_id)

    thread = threading.Thread(target=cancel_once_the_model_is_working)
    thread.start()
    output = agent.run("A long story", run_id=run_id)
    thread.join(timeout=10)
    assert result["cancelled"] is True
    assert output.status is RunStatus.CANCELLED and output.run_id == run_id
    assert server.wait_for_disconnect(timeout=2).words_sent < 200


def test_cancel_before_start_never_starts(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server))
    run_id = new_id()
    assert agent.cancel_run(run_id) is False, "an unknown run is not in flight"
    events = list(agent.run("Never told", stream=True, run_id=run_id))
    assert names(events) == ["RunStarted", "RunCancelled"]
    assert not [r for r in server.requests if "Never told" in str(r.body)], "the model was never called"


def test_cancel_unknown_run_is_false(server: ModelServer) -> None:
    assert Agent(name="Writer", model=model(server)).cancel_run("no-such-run") is False


def test_walking_away_from_the_stream_cancels_the_run(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server, tokens_per_second=40, reply_words=2000))
    stream = agent.run("A long story", stream=True)
    for event in stream:
        if event.event == RunEvent.run_content:
            break
    stream.close()
    assert server.wait_for_disconnect(timeout=3).words_sent < 200


def test_async_tool_is_cancelled_and_sync_tool_abandoned(server: ModelServer) -> None:
    agent = Agent(name="Helper", model=model(server), tools=[slow_sync_tool, slow_async_tool])
    run_id = new_id()
    result: dict[str, object] = {}
    events = []
    for event in agent.run("Use slow_sync_tool and slow_async_tool", stream=True, run_id=run_id):
        events.append(event)
        if (
            event.event == RunEvent.tool_call_started
            and len([e for e in events if e.event == RunEvent.tool_call_started]) == 2
        ):
            thread = cancel_later(agent, run_id, 0.0, result)
    thread.join(timeout=10)
    assert events[-1].event == RunEvent.run_cancelled
    assert time.monotonic() - result["at"] < 2.0, "a 30 s sync tool must not be waited for"


def test_async_twins(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server))

    async def main() -> tuple[RunOutput, list[object]]:
        output = await agent.arun("Hello")
        events = [event async for event in await agent.arun("Hello", stream=True)]
        return output, events

    output, events = asyncio.run(main())
    assert output.status is RunStatus.completed
    assert names(events)[-1] == "RunCompleted"


def test_empty_input_is_a_clear_run_error(server: ModelServer) -> None:
    events = list(Agent(name="Writer", model=model(server)).run("   ", stream=True))
    assert names(events) == ["RunStarted", "RunError"]
    assert "input is empty" in events[-1].content


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "401"}, "Authentication failed (401)"),
        ({"kind": "500", "times": 3}, "answered HTTP 500"),
        ({"kind": "drop", "after_words": 3}, ""),
    ],
)
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_model_faults_become_run_errors(
    server: ModelServer, fault: dict[str, object], expected: str, api: str
) -> None:
    server.add_fault(Fault(**fault))
    agent = Agent(name="Writer", model=model(server, api, max_retries=2))
    events = list(agent.run("Hello", stream=True))
    final = events[-1]
    assert final.event == RunEvent.run_error, names(events)
    assert expected in final.content and "gpt-test" in final.content
    if fault["kind"] == "drop":
        assert "connection dropped" in final.content or "stream broke" in final.content
        assert final.partial_content.split() == ["Once", "upon", "a"]


def test_transient_faults_are_retried(server: ModelServer) -> None:
    server.add_fault("429", retry_after=0.2)
    server.add_fault("500")
    agent = Agent(name="Writer", model=model(server, max_retries=2))
    started = time.monotonic()
    output = agent.run("Hello")
    assert output.status is RunStatus.completed
    assert time.monotonic() - started >= 0.2, "Retry-After was honoured"
    assert [r.status for r in server.requests] == ["fault", "fault", "completed"]


def test_rate_limit_after_retries_names_429(server: ModelServer) -> None:
    server.add_fault("429", times=5, retry_after=0.05)
    output = Agent(name="Writer", model=model(server, max_retries=1)).run("Hello")
    assert output.status is RunStatus.error and "Rate limited (429)" in output.error


def test_unreachable_model_server_is_a_clear_error(server: ModelServer) -> None:
    agent = Agent(name="Writer", model=model(server, base_url="http://127.0.0.1:9/v1", max_retries=0))
    output = agent.run("Hello")
    assert output.status is RunStatus.error
    assert "Cannot reach model 'gpt-test' at http://127.0.0.1:9/v1" in output.error


def test_cancel_right_after_start_is_in_flight(server: ModelServer) -> None:
    """Between the caller starting a run and its actor registering it, the run already counts as in flight."""
    agent = Agent(name="Writer", model=model(server, tokens_per_second=40, reply_words=2000))
    run_id = new_id()
    stream = agent.run("A long story", stream=True, run_id=run_id)
    first = next(stream)
    assert agent.cancel_run(run_id) is True
    events = [first, *stream]
    assert names(events)[-1] == "RunCancelled"
