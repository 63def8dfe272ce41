"""Running, as Agno scripts do it, on Agno 3.1.10 and on kern: the same calls work and give the same
answers. (Which events a stream yields differs: see docs/agno-differences.md.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern

FRAMEWORKS = {"agno": agno, "kern": kern}


def content_of(events: list[Any]) -> str:
    return "".join(
        e.content or "" for e in events if str(getattr(e.event, "value", e.event)).endswith("RunContent")
    )


def agent(fw: Framework, server: ModelServer, **options: Any) -> Any:
    return fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=8), **options)


def test_arun_streams_with_async_for_and_awaits_to_the_output(ray_session: None, server: ModelServer) -> None:
    async def script(fw: Framework) -> tuple[str, str, type]:
        writer = agent(fw, server)
        streamed = [event async for event in writer.arun("Write", stream=True)]
        output = await writer.arun("Write")
        return content_of(streamed), output.content, type(output).__name__

    on_agno = asyncio.run(script(agno()))
    assert on_agno[0] and on_agno[1]
    assert asyncio.run(script(kern())) == on_agno


def test_await_then_iterate_still_works_on_kern(ray_session: None, server: ModelServer) -> None:
    async def script() -> str:
        stream = await agent(kern(), server).arun("Write", stream=True)  # kern's earlier form
        return content_of([event async for event in stream])

    assert asyncio.run(script())


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_runs_of_one_object_share_its_session_unless_told(
    ray_session: None, server: ModelServer, name: str
) -> None:
    writer = agent(FRAMEWORKS[name](), server)
    assert writer.session_id is None
    first, second = writer.run("One"), writer.run("Two")
    assert first.session_id == second.session_id == writer.session_id
    other = writer.run("Three", session_id="elsewhere")
    assert other.session_id == "elsewhere" and writer.session_id == first.session_id
    assert agent(FRAMEWORKS[name](), server).run("Four").session_id != first.session_id


def names_of(events: Any) -> list[str]:
    """Event names, without Agno's content events without content (the provider's response id):
    docs/agno-differences.md."""
    return [str(getattr(e.event, "value", e.event)) for e in events if not _empty_content(e)]


def _empty_content(event: Any) -> bool:
    return str(getattr(event.event, "value", event.event)).endswith("RunContent") and event.content is None


def desk(fw: Framework, server: ModelServer, **options: Any) -> Any:
    return fw.Team(name="Desk", members=[agent(fw, server)], model=fw.model(server, reply_words=8), **options)


PLAIN = {"stream": True, "stream_events": False}
STREAMS: dict[str, tuple[Callable[..., Any], dict[str, Any], dict[str, Any]]] = {
    "agent, plain": (agent, {}, PLAIN),
    "agent, with events": (agent, {}, {"stream": True, "stream_events": True}),
    "agent streaming by default": (agent, {"stream": True}, {"stream_events": False}),
    "agent with events by default": (agent, {"stream_events": True}, {"stream": True}),
    "team, plain": (desk, {}, PLAIN),
    "team, plain, no member events": (desk, {"stream_member_events": False}, PLAIN),
    "team, with events": (desk, {}, {"stream": True, "stream_events": True}),
}


@pytest.mark.parametrize("case", list(STREAMS))
def test_stream_and_stream_events_yield_what_agno_yields(
    ray_session: None, server: ModelServer, case: str
) -> None:
    make, built, call = STREAMS[case]

    def script(fw: Framework) -> tuple[list[str], str]:
        events = list(make(fw, server, **built).run("Write", **call))
        return names_of(events), content_of(events)

    expected = script(agno())
    assert expected[0] and expected[1]
    assert script(kern()) == expected


def test_outputs_and_events_read_as_on_agno(ray_session: None, server: ModelServer) -> None:
    import json

    def script(fw: Framework) -> tuple[Any, ...]:
        writer = agent(fw, server)
        output = writer.run("Write")
        events = writer.run("Write", stream=True, stream_events=True)
        event = next(e for e in events if content_of([e]))
        as_dict = output.to_dict()
        return (
            output.get_content_as_string(),
            output.content_type,
            as_dict["status"],
            as_dict["content"],
            json.loads(output.to_json())["run_id"] == output.run_id,
            event.to_dict()["event"],
            json.loads(event.to_json(indent=None))["agent_name"],
            # (Agno keeps the provider's response id, kern does not: docs/agno-differences.md)
            sorted(set(as_dict) - {"model_provider_data"}),
            as_dict["input"],
            type(as_dict["created_at"]),
            as_dict["model_provider"],
        )

    expected = script(agno())
    assert script(kern()) == expected


def test_an_agno_run_option_kern_lacks_is_refused_by_name() -> None:
    from kern.agent import Agent

    writer = Agent(name="Writer")
    with pytest.raises(NotImplementedError, match=r"Agent\.run\(files=\.\.\.\) is an Agno 3.1.10"):
        writer.run("Hi", files=[])
    with pytest.raises(NotImplementedError, match=r"Agent\.arun\(images=\.\.\.\)"):
        writer.arun("Hi", images=[])
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        writer.run("Hi", colour="blue")


@pytest.mark.parametrize("skip", [None, []])
def test_store_events_keeps_the_runs_events_in_its_output(
    ray_session: None, server: ModelServer, skip: list[str] | None
) -> None:
    def script(fw: Framework) -> list[str]:
        db = __import__(f"{fw.name}.db.in_memory", fromlist=["InMemoryDb"]).InMemoryDb()
        writer = agent(fw, server, store_events=True, events_to_skip=skip, db=db)
        list(writer.run("Write", stream=True, stream_events=True))
        stored = writer.get_last_run_output().events or []
        # (kern writes the record before its terminal event, so the record cannot hold it)
        return [n for n in names_of(stored) if n != "RunCompleted"]

    expected = script(agno())
    assert "RunStarted" in expected
    assert script(kern()) == expected


@pytest.mark.parametrize("stream_events", [False, True])
def test_yield_run_output_ends_the_stream_with_the_output(
    ray_session: None, server: ModelServer, stream_events: bool
) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        items = list(
            agent(fw, server).run("Write", stream=True, stream_events=stream_events, yield_run_output=True)
        )
        last = items[-1]
        return type(last).__name__, last.status, last.content == content_of(items[:-1])

    expected = script(agno())
    assert expected == ("RunOutput", "COMPLETED", True)
    assert script(kern()) == expected


def test_yield_run_output_in_async_streams(ray_session: None, server: ModelServer) -> None:
    async def script(fw: Framework) -> str:
        items = [i async for i in agent(fw, server).arun("Write", stream=True, yield_run_output=True)]
        return type(items[-1]).__name__

    assert asyncio.run(script(agno())) == asyncio.run(script(kern())) == "RunOutput"
