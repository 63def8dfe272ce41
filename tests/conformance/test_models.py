"""Models as Agno scripts build them, on Agno 3.1.10 and on kern: `OpenAILike` for any OpenAI-compatible
server sends what Agno sends (roles, model id, key) and gets the same answer."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern


def like_run(fw: Framework, server: ModelServer) -> tuple[Any, ...]:
    openai_like = import_module(f"{fw.name}.models.openai").OpenAILike
    server.clear_requests()
    model = openai_like(id="local-llama", base_url=server.base_url)
    agent = fw.Agent(name="Writer", id="example", model=model, description="You write.")
    answer = agent.run("Write").content
    request = server.requests[0]
    assert isinstance(request.body, dict)
    roles = [m["role"] for m in request.body["messages"]]
    return request.path, request.body["model"], roles, request.headers.get("authorization"), answer


def test_openai_like_talks_to_the_server_as_agno_does(ray_session: None, server: ModelServer) -> None:
    expected = like_run(agno(), server)
    assert expected[-1]
    assert like_run(kern(), server) == expected
