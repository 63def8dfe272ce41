"""The answers of kern's run routes beside those of Agno 3.1.10's AgentOS for the same agent (Agno's app
in this process, kern's `kern serve`; both on the session's model server): the fields a client reads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kern.model_server import ModelServer
from tests.http.app import FAST, word_count

AGNO_ONLY = {"model_provider_data", "nested_depth"}
"""Agno's fields kern does not give (docs/agentos-differences.md): the provider's response id, and a
member's depth (kern's events carry `parent_run_id`)."""


@pytest.fixture(scope="module")
def agno_os(model_server: ModelServer) -> Iterator[TestClient]:
    """Agno's AgentOS serving the same writer as `tests.http.app` (its tool, its instructions)."""
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from agno.agent import Agent
    from agno.db.in_memory import InMemoryDb
    from agno.models.openai import OpenAIResponses
    from agno.os import AgentOS

    headers = {"x-kern-tokens-per-second": str(FAST["tokens_per_second"]),
               "x-kern-reply-words": str(FAST["reply_words"])}  # fmt: skip
    model = OpenAIResponses(id="writer", base_url=model_server.base_url, api_key="k", default_headers=headers)
    writer = Agent(name="Writer", model=model, tools=[word_count], instructions="Be brief.", db=InMemoryDb())
    with TestClient(AgentOS(agents=[writer]).get_app()) as client:
        yield client


def keys(body: dict[str, Any]) -> set[str]:
    return set(body) - AGNO_ONLY


def first_event(text: str) -> tuple[str, dict[str, Any]]:
    """The first SSE frame's event name and data (kern's frames also carry an `id:` line)."""
    lines = dict(line.split(": ", 1) for line in text.strip().split("\n\n")[0].split("\n"))
    return lines["event"], json.loads(lines["data"])


def test_a_run_answers_with_agnos_fields(agno_os: TestClient, client: httpx.Client) -> None:
    form = {"message": "Count the words of this", "stream": "false", "session_id": "agno-shapes"}
    theirs = agno_os.post("/agents/writer/runs", data=form)
    ours = client.post("/agents/writer/runs", data=form)
    assert (ours.status_code, theirs.status_code) == (200, 200)
    assert keys(theirs.json()) <= keys(ours.json())
    assert ours.json()["input"] == theirs.json()["input"] == {"input_content": form["message"]}
    assert isinstance(ours.json()["created_at"], int)
    assert [t["tool_name"] for t in ours.json()["tools"]] == [t["tool_name"] for t in theirs.json()["tools"]]
    assert {"tool_call_error", "tool_args", "result"} <= set(ours.json()["tools"][0])

    params = {"session_id": form["session_id"]}
    read_theirs = agno_os.get(f"/agents/writer/runs/{theirs.json()['run_id']}", params=params)
    read_ours = client.get(f"/agents/writer/runs/{ours.json()['run_id']}", params=params)
    assert (read_ours.status_code, read_theirs.status_code) == (200, 200)
    # (Agno's AgentOS stores a run's events; kern stores them with `store_events=True`.)
    assert keys(read_theirs.json()) - {"events"} <= keys(read_ours.json())

    listed_theirs = agno_os.get("/agents/writer/runs", params=params).json()
    listed_ours = client.get("/agents/writer/runs", params=params).json()
    assert [r["run_id"] for r in listed_ours] == [ours.json()["run_id"]]
    assert keys(listed_theirs[0]) - {"events"} <= keys(listed_ours[0])
    assert listed_ours[0]["run_input"] == form["message"]
    assert client.get("/agents/writer/runs", params={**params, "status": "ERROR"}).json() == []
    assert client.get("/agents/writer/runs", params={"session_id": "no-such"}).status_code == 404


def test_a_stream_starts_with_agnos_first_event(agno_os: TestClient, client: httpx.Client) -> None:
    form = {"message": "Hello", "session_id": "agno-shapes-stream"}
    their_name, theirs = first_event(agno_os.post("/agents/writer/runs", data=form).text)
    with client.stream("POST", "/agents/writer/runs", data=form) as response:
        our_name, ours = first_event(response.read().decode())
    assert our_name == their_name == "RunStarted"
    assert keys(theirs) <= keys(ours)
    assert ours["model_provider"] == theirs["model_provider"]


def test_a_cancel_answers_as_agnos(agno_os: TestClient, client: httpx.Client) -> None:
    """Agno answers `{}` (kern adds the run id and whether it was in flight); an unknown run id is
    remembered, so that run never starts."""
    theirs = agno_os.post("/agents/writer/runs/never-started/cancel", params={"session_id": "s"})
    ours = client.post("/agents/writer/runs/never-started/cancel", params={"session_id": "s"})
    assert (ours.status_code, theirs.status_code) == (200, 200)
    assert theirs.json() == {} and set(ours.json()) == {"run_id", "cancelled"}
