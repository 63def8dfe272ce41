"""Continuing paused runs over HTTP (Agno's `POST /agents/{id}/runs/{run_id}/continue`): from the record
or the stream's `RunPaused`, on either server process, streaming or not; what is refused and why."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.http.conftest import KernServer, sse_events
from tests.support import assert_one_terminal_last, names

AGENT = "publisher"


def paused_run(client: httpx.Client) -> dict[str, Any]:
    response = client.post(f"/agents/{AGENT}/runs", data={"message": "Use publish", "stream": "false"})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "PAUSED"
    (requirement,) = run["requirements"]
    assert requirement["tool_execution"]["requires_confirmation"] is True
    return run


def confirmed(tools: list[dict[str, Any]], yes: bool = True) -> str:
    return json.dumps([{**tool, "confirmed": yes} for tool in tools])


def test_continue_a_paused_run_on_another_server(client: httpx.Client, api_b: KernServer) -> None:
    run = paused_run(client)
    form = {"tools": confirmed(run["tools"]), "session_id": run["session_id"], "stream": "false"}
    response = httpx.post(f"{api_b.url}/agents/{AGENT}/runs/{run['run_id']}/continue", data=form, timeout=30)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "COMPLETED" and done["run_id"] == run["run_id"]
    assert done["content"].startswith("Based on published example:")
    stored = client.get(f"/agents/{AGENT}/runs/{run['run_id']}").json()
    assert stored["status"] == "COMPLETED" and stored["tools"][0]["confirmed"] is True


def test_continue_streams_from_the_paused_event(client: httpx.Client) -> None:
    with client.stream("POST", f"/agents/{AGENT}/runs", data={"message": "Use publish"}) as response:
        first = list(sse_events(response))
    paused = first[-1]
    assert paused.event.value == "RunPaused" and paused.is_paused
    tools = [tool.model_dump(mode="json") for tool in paused.tools]
    body = {"tools": json.loads(confirmed(tools, yes=False)), "session_id": paused.session_id}
    with client.stream("POST", f"/agents/{AGENT}/runs/{paused.run_id}/continue", json=body) as response:
        assert response.status_code == 200
        resumed = list(sse_events(response))
    assert names(resumed)[0] == "RunContinued"
    assert_one_terminal_last(resumed, paused.run_id)
    assert resumed[-1].event.value == "RunCompleted"
    assert resumed[-1].content.startswith("Based on Function call was rejected by the user:")


def test_what_a_continue_refuses(client: httpx.Client) -> None:
    run = paused_run(client)
    url = f"/agents/{AGENT}/runs/{run['run_id']}/continue"
    unanswered = client.post(url, data={"tools": json.dumps(run["tools"]), "stream": "false"})
    assert unanswered.status_code == 400 and "still waits for: publish (confirmation)" in unanswered.text
    assert client.post(url, data={"tools": "[not json"}).status_code == 400
    assert client.post(url, data={"tools": confirmed(run["tools"]), "colour": "red"}).status_code == 422
    elsewhere = client.post(f"/agents/writer/runs/{run['run_id']}/continue", data={"tools": "[]"})
    assert elsewhere.status_code == 404
    other_session = client.post(url, data={"tools": confirmed(run["tools"]), "session_id": "someone-else"})
    assert other_session.status_code == 404

    cancel = client.post(f"/agents/{AGENT}/runs/{run['run_id']}/cancel")
    assert cancel.status_code == 200 and cancel.json()["cancelled"] is True
    assert client.get(f"/agents/{AGENT}/runs/{run['run_id']}").json()["status"] == "CANCELLED"
    again = client.post(url, data={"tools": confirmed(run["tools"]), "stream": "false"})
    assert again.status_code == 409 and "is CANCELLED, not PAUSED" in again.text


def test_a_team_paused_by_its_member_continues_with_requirements(client: httpx.Client) -> None:
    started = client.post("/teams/publishing-desk/runs", data={"message": "Use publish", "stream": "false"})
    assert started.status_code == 200, started.text
    run = started.json()
    assert run["status"] == "PAUSED" and run["member_responses"][0]["status"] == "PAUSED"
    (requirement,) = run["requirements"]
    assert requirement["member_agent_name"] == "Desk Publisher"
    requirement["tool_execution"]["confirmed"] = True
    form = {"requirements": json.dumps([requirement]), "stream": "false"}
    done = client.post(f"/teams/publishing-desk/runs/{run['run_id']}/continue", data=form)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED"
    assert done.json()["member_responses"][0]["status"] == "COMPLETED"
