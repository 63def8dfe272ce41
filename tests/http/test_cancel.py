"""Cancelling runs over HTTP: the seed's curl line, another server process, and a client that leaves."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from kern.model_server import ModelServer
from kern.run.base import BaseRunEvent, RunStatus
from kern.specs import new_id
from tests.http.conftest import KernServer, sse_events, wait_for
from tests.support import assert_one_terminal_last, names

TEAM = "storytelling-team"
MAX_EVENTS_AFTER_CANCEL = 100
STORY = "Write a very long story about a dragon who learns to code."


def stream_until_cancelled(api: KernServer, path: str, run_id: str, cancel: object) -> list[BaseRunEvent]:
    """Stream a run; once its (member's) content flows, call `cancel()`; return every event."""
    events: list[BaseRunEvent] = []
    with httpx.stream("POST", f"{api.url}{path}", data={"message": STORY, "run_id": run_id}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["x-run-id"] == run_id
        cancelled_at: int | None = None
        for event in sse_events(r):
            events.append(event)
            if cancelled_at is None and sum(e.event.value == "RunContent" for e in events) == 3:
                cancel()  # type: ignore[operator]
                cancelled_at = len(events)
            if cancelled_at is not None and len(events) > cancelled_at + MAX_EVENTS_AFTER_CANCEL:
                pytest.fail(f"the run goes on after the cancel: {names(events)}")
    return events


def assert_member_then_team_cancelled(events: list[BaseRunEvent], run_id: str) -> None:
    assert_one_terminal_last(events, run_id)
    kinds = [e.event.value for e in events]
    member_cancel = kinds.index("RunCancelled")
    assert events[member_cancel].parent_run_id == run_id
    assert events[member_cancel].content  # the partial story is kept
    assert kinds[-1] == "TeamRunCancelled" and member_cancel < len(kinds) - 1
    assert "RunCompleted" not in kinds and "TeamRunCompleted" not in kinds


def stored_status(api: KernServer, kind: str, component: str, run_id: str) -> dict[str, object] | None:
    response = httpx.get(f"{api.url}/{kind}/{component}/runs/{run_id}", timeout=10)
    if response.status_code != 200:
        return None
    run = response.json()
    return run if run["status"] in ("COMPLETED", "CANCELLED", "ERROR") else None


def test_seed_curl_cancel_of_a_streamed_team_run(api: KernServer) -> None:
    run_id = new_id()
    answers: list[dict[str, object]] = []

    def curl_cancel() -> None:
        url = f"http://localhost:{api.port}/teams/{TEAM}/runs/{run_id}/cancel"
        done = subprocess.run(
            ["curl", "--silent", "--show-error", "--location", url, "--request", "POST"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        answers.append(json.loads(done.stdout))

    events = stream_until_cancelled(api, f"/teams/{TEAM}/runs", run_id, curl_cancel)
    assert answers == [{"run_id": run_id, "cancelled": True}]
    assert_member_then_team_cancelled(events, run_id)

    stored = wait_for(lambda: stored_status(api, "teams", TEAM, run_id), what="the stored team run")
    assert stored["status"] == "CANCELLED"
    [member] = stored["member_responses"]  # type: ignore[misc]
    assert (member["agent_id"], member["status"]) == ("storytelleragent", "CANCELLED")
    assert member["content"]
    again = httpx.post(f"{api.url}/teams/{TEAM}/runs/{run_id}/cancel", timeout=10).json()
    assert again == {"run_id": run_id, "cancelled": False}


def test_cancel_on_another_server_process(api: KernServer, api_b: KernServer) -> None:
    run_id = new_id()
    answers: list[httpx.Response] = []

    def cancel_on_b() -> None:
        answers.append(httpx.post(f"{api_b.url}/teams/{TEAM}/runs/{run_id}/cancel", timeout=30))

    events = stream_until_cancelled(api, f"/teams/{TEAM}/runs", run_id, cancel_on_b)
    assert answers[0].status_code == 200 and answers[0].json() == {"run_id": run_id, "cancelled": True}
    assert_member_then_team_cancelled(events, run_id)
    # Both servers read the same database.
    stored = wait_for(lambda: stored_status(api_b, "teams", TEAM, run_id), what="the stored team run")
    assert stored["status"] == "CANCELLED"


def test_agent_cancel_while_the_server_keeps_serving(api: KernServer, client: httpx.Client) -> None:
    other: list[httpx.Response] = []
    events: list[BaseRunEvent] = []
    with httpx.stream("POST", f"{api.url}/agents/slow-writer/runs", json={"message": STORY}, timeout=30) as r:
        run_id = r.headers["x-run-id"]  # made by the server
        for event in sse_events(r):
            events.append(event)
            if sum(e.event.value == "RunContent" for e in events) == 3:
                # Other requests are served while this run streams.
                other.append(client.post("/agents/writer/runs", data={"message": "Hi", "stream": "false"}))
                other.append(client.post("/agents/writer/runs", json={"message": ""}))
                other.append(client.post(f"/agents/slow-writer/runs/{run_id}/cancel"))
    assert [o.status_code for o in other] == [200, 422, 200]
    assert other[0].json()["status"] == "COMPLETED"
    assert other[2].json() == {"run_id": run_id, "cancelled": True}
    final = assert_one_terminal_last(events, run_id)
    assert final.event.value == "RunCancelled" and final.content
    stored = wait_for(lambda: stored_status(api, "agents", "slow-writer", run_id), what="the stored run")
    assert stored["status"] == "CANCELLED" and stored["content"] == final.content


@pytest.mark.parametrize(
    "kind, component, model", [("teams", TEAM, "story-slow"), ("agents", "slow-writer", "slow-writer")]
)
def test_client_disconnect_cancels_the_run(
    api: KernServer, server: ModelServer, kind: str, component: str, model: str
) -> None:
    run_id = new_id()
    url = f"{api.url}/{kind}/{component}/runs"
    with httpx.stream("POST", url, data={"message": STORY, "run_id": run_id}, timeout=30) as response:
        content = 0
        for event in sse_events(response):
            content += event.event.value == "RunContent"
            if content == 3:
                break  # leaving the block closes the connection
    disconnect = server.wait_for_disconnect(timeout=15, model=model)
    assert disconnect.words_sent < 1000
    stored = wait_for(lambda: stored_status(api, kind, component, run_id), what="the stored run")
    assert stored["status"] == RunStatus.cancelled.value
    if kind == "teams":
        assert [m["status"] for m in stored["member_responses"]] == ["CANCELLED"]  # type: ignore[union-attr]


def test_client_leaving_a_non_streaming_run_cancels_it(api: KernServer, server: ModelServer) -> None:
    run_id = new_id()
    body = {"message": STORY, "stream": False, "run_id": run_id}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{api.url}/agents/slow-writer/runs", json=body, timeout=httpx.Timeout(30, read=1.5))
    server.wait_for_disconnect(timeout=15, model="slow-writer")
    stored = wait_for(lambda: stored_status(api, "agents", "slow-writer", run_id), what="the stored run")
    assert stored["status"] == RunStatus.cancelled.value


def test_disconnect_is_noticed_while_no_event_flows(api: KernServer, server: ModelServer) -> None:
    """The model stalls before its first token: nothing is written, yet the disconnect cancels the run."""
    run_id = new_id()
    url = f"{api.url}/agents/stalled-writer/runs"
    with httpx.stream("POST", url, data={"message": STORY, "run_id": run_id}, timeout=30) as response:
        events = sse_events(response)  # keep it: dropping an httpx line iterator closes the connection
        assert next(events).event.value == "RunStarted"
        server.wait_for_request(lambda r: r.model == "stalled", timeout=15)
        assert server.requests[-1].status == "in_progress" and server.requests[-1].words_sent == 0
    disconnect = server.wait_for_disconnect(timeout=15, model="stalled")
    assert disconnect.words_sent == 0
    stored = wait_for(lambda: stored_status(api, "agents", "stalled-writer", run_id), what="the stored run")
    assert stored["status"] == RunStatus.cancelled.value and stored["content"] == ""
