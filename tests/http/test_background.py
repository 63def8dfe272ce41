"""Background runs over HTTP (Agno's `background=true`): a 202 at once, progress and outcome from
`GET .../runs/{run_id}` on any server."""

from __future__ import annotations

import httpx

from tests.http.conftest import KernServer, wait_for

AGENT = "slow-writer"


def test_a_background_run_answers_202_and_shows_its_progress_anywhere(
    client: httpx.Client, api_b: KernServer
) -> None:
    answer = client.post(f"/agents/{AGENT}/runs", data={"message": "Write", "background": "true"})
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
    started = client.post(f"/agents/{AGENT}/runs", data={"message": "Write", "background": "true"}).json()
    url = f"/agents/{AGENT}/runs/{started['run_id']}"
    assert client.get(url, params={"session_id": "someone-else"}).status_code == 404
    assert client.post(f"{url}/cancel").json()["cancelled"] is True
