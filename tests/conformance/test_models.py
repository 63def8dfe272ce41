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


PARAMETERS: dict[str, Any] = {
    "max_tokens": 50,
    "max_completion_tokens": 60,
    "top_p": 0.5,
    "seed": 7,
    "stop": ["THE END"],
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
    "user": "ada",
    "metadata": {"purpose": "test"},
    "service_tier": "default",
    "store": False,
    "extra_body": {"custom_flag": True},
    "extra_query": {"api-version": "1"},
}


def chat_request(fw: Framework, server: ModelServer) -> tuple[dict[str, Any], str]:
    chat = import_module(f"{fw.name}.models.openai").OpenAIChat
    server.clear_requests()
    model = chat(id="gpt-params", base_url=server.base_url, api_key="kern-test", **PARAMETERS)
    fw.Agent(name="Writer", id="example", model=model).run("Write")
    request = server.requests[0]
    assert isinstance(request.body, dict)
    keys = [key for key in [*PARAMETERS, "custom_flag"] if not key.startswith("extra_")]
    sent = {key: request.body.get(key) for key in keys}
    return sent, request.path


def test_chat_parameters_reach_the_server_as_from_agno(ray_session: None, server: ModelServer) -> None:
    expected = chat_request(agno(), server)
    assert expected[0]["seed"] == 7 and expected[0]["custom_flag"] is True
    assert chat_request(kern(), server) == expected
