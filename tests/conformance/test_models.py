"""Models as Agno scripts build them, on Agno 3.1.10 and on kern: `OpenAILike` for any OpenAI-compatible
server sends what Agno sends (roles, model id, key) and gets the same answer; `OpenAIChat` and
`OpenAIResponses` send their request parameters as Agno does."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from kern.messages import Message
from kern.model_server import ModelServer
from kern.models.base import NO_OPTIONS, ModelError
from kern.models.openai.client import ClientPool
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


class Verdict(BaseModel):
    verdict: str


RESPONSES_CASES: dict[str, dict[str, Any]] = {
    "sampling and limits": {
        "temperature": 0.2,
        "top_p": 0.5,
        "max_output_tokens": 80,
        "max_tool_calls": 3,
        "parallel_tool_calls": False,
        "truncation": "auto",
        "user": "ada",
        "service_tier": "flex",
        "metadata": {"purpose": "test"},
        "store": False,
        "include": ["message.output_text.logprobs"],
    },
    "reasoning, verbosity beside the output format": {
        "id": "gpt-5.2",  # a reasoning model: Agno says `store`
        "reasoning": {"generate_summary": "concise"},
        "reasoning_effort": "low",
        "reasoning_summary": "auto",
        "verbosity": "low",
        "output_schema": Verdict,
    },
    "extras, request_params, background, client options": {
        "background": True,
        "extra_headers": {"x-kern-tag": "extra"},
        "extra_body": {"custom_flag": True, "user": "from-extra-body"},
        "user": "ada",
        "request_params": {"prompt_cache_key": "cache-1", "top_p": 0.9},
        "top_p": 0.1,
        "organization": "org-kern",
        "default_query": {"api-version": "1"},
        "client_params": {"max_retries": 1},
    },
}
"""Agno 3.1.10 `OpenAIResponses` parameters, a few per case; `output_schema` goes to the agent."""


def responses_requests(fw: Framework, server: ModelServer, case: str) -> list[tuple[Any, ...]]:
    """What a non-streamed and a streamed run send: the body less the conversation (kern sends the system
    message as `instructions`, Agno as an input item), the headers a script can set, and the path."""
    responses = import_module(f"{fw.name}.models.openai").OpenAIResponses
    parameters = dict(RESPONSES_CASES[case])
    output_schema = parameters.pop("output_schema", None)
    parameters = {"id": "gpt-params", **parameters}
    sent = []
    for stream in (False, True):
        server.clear_requests()
        model = responses(base_url=server.base_url, api_key="kern-test", **parameters)
        agent = fw.Agent(name="Writer", id="example", model=model, output_schema=output_schema)
        if stream:
            list(agent.run("Write", stream=True))
        else:
            assert agent.run("Write").content
        request = server.requests[0]
        assert isinstance(request.body, dict)
        body = {key: value for key, value in request.body.items() if key not in ("input", "instructions")}
        headers = {
            k: v for k, v in request.headers.items() if k.startswith("x-kern-") or k == "openai-organization"
        }
        sent.append((request.path, body, headers))
    return sent


SENT: dict[str, dict[str, Any]] = {
    "sampling and limits": {"truncation": "auto", "store": False, "max_tool_calls": 3, "reasoning": {}},
    "reasoning, verbosity beside the output format": {
        "reasoning": {"generate_summary": "concise", "effort": "low", "summary": "auto"},
        "store": True,
    },
    "extras, request_params, background, client options": {
        "background": True,  # not for a stream
        "custom_flag": True,
        "user": "from-extra-body",  # `extra_body` goes over the body
        "top_p": 0.9,  # `request_params` over the parameters
        "prompt_cache_key": "cache-1",
    },
}
"""Some of what the non-streamed request of each case carries, so that the comparison is not vacuous."""


@pytest.mark.parametrize("case", list(RESPONSES_CASES))
def test_responses_parameters_reach_the_server_as_from_agno(
    ray_session: None, server: ModelServer, case: str
) -> None:
    expected = responses_requests(agno(), server, case)
    (_, plain, headers), (_, streamed, _) = expected
    assert {key: plain.get(key) for key in SENT[case]} == SENT[case]
    assert "background" not in streamed
    if "verbosity" in RESPONSES_CASES[case]:
        assert plain["text"]["verbosity"] == "low" and plain["text"]["format"]["name"] == "Verdict"
    if "organization" in RESPONSES_CASES[case]:
        assert headers == {"x-kern-tag": "extra", "openai-organization": "org-kern"}
    assert responses_requests(kern(), server, case) == expected


def test_responses_query_options_go_to_the_sdk() -> None:
    """The model server does not record query strings: `extra_query` is an option of the SDK call and
    `default_query` one of the SDK client, as in Agno."""
    from kern.models.openai import OpenAIResponses

    model = OpenAIResponses(extra_query={"api-version": "2"}, default_query={"tenant": "t"}, organization="o")
    request = model._request([Message(role="user", content="Hi")], [], NO_OPTIONS)
    assert request["extra_query"] == {"api-version": "2"}

    async def client_settings() -> tuple[Any, ...]:
        client = model.client
        return client.default_query, client.organization

    assert asyncio.run(client_settings()) == ({"tenant": "t"}, "o")


def test_responses_keywords_are_checked_as_agno_checks_them() -> None:
    from kern.models.openai import OpenAIResponses

    with pytest.raises(TypeError, match="'reasoning_effrot'"):
        OpenAIResponses(reasoning_effrot="low")
    with pytest.raises(NotImplementedError, match=r"http_client=\.\.\..*pickled"):
        OpenAIResponses(http_client=httpx.AsyncClient())
    with pytest.raises(NotImplementedError, match="http_client"):
        OpenAIResponses(client_params={"http_client": httpx.AsyncClient()})
    with pytest.raises(NotImplementedError, match=r"OpenAIResponses\(retries=\.\.\.\)"):
        OpenAIResponses(retries=2)
    # Agno's defaults, written out, are accepted; Agno's None timeout / retries / URL objects too
    model = OpenAIResponses(
        retries=0, http_client=None, timeout=None, max_retries=None, base_url=httpx.URL("http://h/v1")
    )
    assert (model.timeout, model.max_retries, model.base_url) == (60.0, 2, "http://h/v1")


@dataclass
class FakeResponses:
    """`client.responses` of a background response that is queued, then in progress, then `final`."""

    final: str = "completed"
    statuses: list[str] = field(default_factory=lambda: ["in_progress", "in_progress"])
    calls: list[str] = field(default_factory=list)

    def reply(self, status: str) -> SimpleNamespace:
        return SimpleNamespace(
            id="resp_1", status=status, output_text="Done.", output=[], usage=None, error=None
        )

    async def create(self, **request: Any) -> SimpleNamespace:
        self.calls.append(f"create background={request['extra_body'].get('background')}")
        return self.reply("queued")

    async def retrieve(self, response_id: str) -> SimpleNamespace:
        self.calls.append(f"retrieve {response_id}")
        return self.reply(self.statuses.pop(0) if self.statuses else self.final)

    async def cancel(self, response_id: str) -> None:
        self.calls.append(f"cancel {response_id}")


def background_model(responses: FakeResponses, **settings: Any) -> Any:
    from kern.models.openai import OpenAIResponses

    model = OpenAIResponses(background=True, background_poll_interval=0, **settings)
    model._clients = ClientPool(lambda: SimpleNamespace(responses=responses))  # type: ignore[arg-type,return-value]
    return model


def test_background_responses_are_polled_until_done_as_in_agno() -> None:
    responses = FakeResponses()
    reply = asyncio.run(background_model(responses).response([Message(role="user", content="Hi")], []))
    assert reply.content == "Done."
    assert responses.calls == ["create background=True", *["retrieve resp_1"] * 3]


def test_a_background_response_past_its_wait_is_cancelled() -> None:
    responses = FakeResponses(statuses=["in_progress"] * 100)
    model = background_model(responses, background_max_wait=0)
    with pytest.raises(ModelError, match="background_max_wait"):
        asyncio.run(model.response([Message(role="user", content="Hi")], []))
    assert responses.calls[-1] == "cancel resp_1"
    failed = background_model(FakeResponses(statuses=[], final="failed"))
    with pytest.raises(ModelError, match="resp_1 failed"):
        asyncio.run(failed.response([Message(role="user", content="Hi")], []))


def test_model_calls_share_a_client_until_it_has_sixteen_in_flight() -> None:
    """A new SDK client (its own connection pool) opens only when every client is full; a call after a
    burst goes back to the first client, whose connections are warm."""
    from kern.models.openai.client import CALLS_PER_CLIENT

    made: list[object] = []
    pool = ClientPool(lambda: made.append(object()) or made[-1])  # type: ignore[arg-type,func-returns-value]
    with contextlib.ExitStack() as burst:
        leased = [burst.enter_context(pool.lease()) for _ in range(2 * CALLS_PER_CLIENT + 1)]
        assert [made.index(client) for client in leased] == [0] * 16 + [1] * 16 + [2]
    with pool.lease() as client:
        assert client is made[0]
    assert len(made) == 3
