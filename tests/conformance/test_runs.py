"""Running, as Agno scripts do it, on Agno 3.1.10 and on kern: the same calls work and give the same
answers. (Which events a stream yields differs: see docs/agno-differences.md.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern

FRAMEWORKS = {"agno": agno, "kern": kern}


def content_of(events: list[Any]) -> str:
    return "".join(e.content or "" for e in events if str(getattr(e.event, "value", e.event)) == "RunContent")


def agent(fw: Framework, server: ModelServer) -> Any:
    return fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=8))


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
