"""The fields of `POST .../runs` beyond the message, as Agno's AgentOS takes them: JSON objects for the
run's state, dependencies and metadata, the context options; Agno's fields kern does not support are a
400 naming them, an unknown field a 422."""

from __future__ import annotations

import json

import httpx
import pytest


def test_state_dependencies_and_context_options_reach_the_run(client: httpx.Client) -> None:
    form = {
        "message": "Hello",
        "stream": "false",
        "session_state": json.dumps({"topic": "dragons"}),
        "dependencies": json.dumps({"city": "Lyon"}),
        "metadata": json.dumps({"source": "test"}),
        "add_dependencies_to_context": "true",
    }
    answer = client.post("/agents/writer/runs", data=form)
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["session_state"]["topic"] == "dragons"
    user = [m["content"] for m in run["messages"] if m["role"] == "user"][-1]
    assert user.startswith("Hello") and '"city": "Lyon"' in user


def test_the_same_fields_in_a_json_body(client: httpx.Client) -> None:
    body = {"message": "Hello", "stream": False, "session_state": {"topic": "whales"}}
    answer = client.post("/agents/writer/runs", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["session_state"]["topic"] == "whales"


@pytest.mark.parametrize(
    ("fields", "files", "said"),
    [
        ({}, {"files": ("a.png", b"\x89PNG", "image/png")}, "files"),
        ({"version": "2"}, None, "component versions"),
        ({"factory_input": "{}"}, None, "factories"),
    ],
)
def test_agno_fields_kern_lacks_are_refused_by_name(
    client: httpx.Client, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None, said: str
) -> None:
    answer = client.post("/agents/writer/runs", data={"message": "Hi", **fields}, files=files)
    assert answer.status_code == 400 and said in answer.json()["detail"]


def test_fields_that_ask_nothing_are_taken_and_unknown_ones_refused(client: httpx.Client) -> None:
    quiet = {"message": "Hi", "stream": "false", "background": "false", "monitor": "true", "version": ""}
    assert client.post("/teams/quick-team/runs", data=quiet).status_code == 200
    answer = client.post("/agents/writer/runs", data={"message": "Hi", "colour": "blue"})
    assert answer.status_code == 422 and "colour" in answer.json()["detail"]
    answer = client.post("/agents/writer/runs", data={"message": "Hi", "session_state": "[1, 2]"})
    assert answer.status_code == 422 and "session_state must be a JSON object" in answer.json()["detail"]
