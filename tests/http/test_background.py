"""Background runs over HTTP (Agno's `background=true`): a 202 at once, progress and outcome from
`GET .../runs/{run_id}` on any server."""

from __future__ import annotations

import httpx

from kern.run.base import BaseRunEvent
from tests.http.conftest import KernServer, sse_events, wait_for

AGENT = "slow-writer"


def test_a_background_run_answers_202_and_shows_its_progress_anywhere(
    client: httpx.Client, api_b: KernServer
) -> None:
    form = {"message": "Write", "background": "true", "stream": "false"}
    answer = client.post(f"/agents/{AGENT}/runs", data=form)
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert started["status"] == "RUNNING" and set(started) == {"run_id", "session_id", "status"}
    assert answer.headers["x-run-id"] == started["run_id"]
    url = f"{api_b.url}/agents/{AGENT}/runs/{started['run_id']}"

    def partial() -> dict[str, object] | None:
        run = httpx.get(url, timeout=10).json()
        return run if run["status"] == "RUNNING" and run.get("content") else None

    running = wait_for(partial, what="the run's partial answer")
    assert running["session_id"] == started["session_id"]
    cancel = client.post(f"/agents/{AGENT}/runs/{started['run_id']}/cancel")
    assert cancel.json()["cancelled"] is True
    ended = wait_for(lambda: (r := httpx.get(url, timeout=10).json())["status"] == "CANCELLED" and r)
    assert str(ended["content"]).startswith(str(running["content"])[:20])


def test_a_background_run_of_another_session_is_not_shown(client: httpx.Client) -> None:
    form = {"message": "Write", "background": "true", "stream": "false"}
    started = client.post(f"/agents/{AGENT}/runs", data=form).json()
    url = f"/agents/{AGENT}/runs/{started['run_id']}"
    assert client.get(url, params={"session_id": "someone-else"}).status_code == 404
    assert client.post(f"{url}/cancel").json()["cancelled"] is True


def test_a_background_stream_survives_its_client_and_is_rejoined_without_loss(
    client: httpx.Client, api_b: KernServer
) -> None:
    form = {"message": "Write", "background": "true", "stream": "true"}
    first: list[BaseRunEvent] = []
    with client.stream("POST", f"/agents/{AGENT}/runs", data=form) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        for event in sse_events(response):
            first.append(event)
            if len(first) == 8:
                break  # the client leaves: a background run goes on
    assert [e.event_index for e in first] == list(range(8))
    # Rejoin on the other server from the last event seen (Agno's form field), read a while, leave again.
    url = f"{api_b.url}/agents/{AGENT}/runs/{run_id}/resume"
    second: list[BaseRunEvent] = []
    with httpx.stream("POST", url, data={"last_event_index": "7"}, timeout=30) as response:
        assert response.status_code == 200
        for event in sse_events(response):
            second.append(event)
            if len(second) == 5:
                break
    assert [e.event_index for e in second] == list(range(8, 13))
    # Rejoin with the standard header, cancel, and follow to the end.
    with httpx.stream("POST", url, headers={"Last-Event-ID": "12"}, timeout=30) as response:
        events = sse_events(response)
        third = [next(events)]
        assert client.post(f"/agents/{AGENT}/runs/{run_id}/cancel").json()["cancelled"] is True
        third += list(events)
    indexes = [e.event_index for e in first + second + third]
    assert indexes == list(range(len(indexes))), "an event was lost or sent twice across reconnects"
    assert third[-1].event.value == "RunCancelled"


def test_resume_refuses_another_session_and_unknown_runs(client: httpx.Client) -> None:
    form = {"message": "Write", "background": "true", "stream": "false"}
    started = client.post(f"/agents/{AGENT}/runs", data=form).json()
    url = f"/agents/{AGENT}/runs/{started['run_id']}/resume"
    assert client.post(url, data={"session_id": "someone-else"}).status_code == 404
    assert client.post(f"/agents/{AGENT}/runs/no-such-run/resume").status_code == 404
    assert client.post(url, data={"last_event_index": "two"}).status_code == 422
    assert client.post(f"/agents/{AGENT}/runs/{started['run_id']}/cancel").json()["cancelled"] is True
