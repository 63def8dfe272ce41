"""The same AgentOS behind Ray Serve (`kern.os.ray_serve.application`, two Serve replicas) beside two
`kern serve` processes, all on the test session's Ray cluster and database: a run started through any of
them is cancelled, continued and rejoined through any other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ray import serve

from kern.model_server import ModelServer
from kern.os.ray_serve import application
from kern.run.base import BaseRunEvent
from kern.specs import new_id
from tests.http.conftest import KernServer, app_env, free_port, sse_events, wait_for
from tests.support import names


@pytest.fixture(scope="module")
def served(model_server: ModelServer, http_folder: Path, api_b: KernServer) -> Iterator[str]:
    """The Serve app's URL (its replicas use the `kern serve` processes' database)."""
    env = {k: v for k, v in app_env(model_server, http_folder).items() if k.startswith(("KERN_", "OPENAI_"))}
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        app = application(
            "tests.http.app:os_app", num_replicas=2, ray_actor_options={"runtime_env": {"env_vars": env}}
        )
        serve.run(app, name="kern-os", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(url), timeout=60, what="the Serve app")
        yield url
    finally:
        serve.shutdown()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_run_started_behind_serve_is_cancelled_anywhere(served: str, api_b: KernServer) -> None:
    for start_at, cancel_at in [(served, api_b.url), (api_b.url, served), (served, served)]:
        run_id = new_id()
        form = {"message": "Write", "run_id": run_id}
        with httpx.stream("POST", f"{start_at}/agents/slow-writer/runs", data=form, timeout=30) as response:
            assert response.status_code == 200
            events = sse_events(response)
            assert next(events).event.value == "RunStarted"
            cancel = httpx.post(f"{cancel_at}/agents/slow-writer/runs/{run_id}/cancel", timeout=30)
            assert cancel.json()["cancelled"] is True, (start_at, cancel_at)
            assert [event.event.value for event in events][-1] == "RunCancelled"


def test_a_run_paused_behind_serve_is_continued_through_it(served: str, api_b: KernServer) -> None:
    paused = httpx.post(
        f"{api_b.url}/agents/publisher/runs", data={"message": "Use publish", "stream": "false"}, timeout=30
    ).json()
    assert paused["status"] == "PAUSED"
    tools = json.dumps([{**tool, "confirmed": True} for tool in paused["tools"]])
    form = {"tools": tools, "session_id": paused["session_id"], "stream": "false"}
    done = httpx.post(f"{served}/agents/publisher/runs/{paused['run_id']}/continue", data=form, timeout=30)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED" and done.json()["content"].startswith("Based on published")


def test_a_stream_left_behind_serve_is_rejoined_without_loss(served: str, api_b: KernServer) -> None:
    form = {"message": "Write", "background": "true", "stream": "true"}
    first: list[BaseRunEvent] = []
    with httpx.stream("POST", f"{served}/agents/slow-writer/runs", data=form, timeout=30) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        for event in sse_events(response):
            first.append(event)
            if len(first) == 6:
                break  # the client leaves: a background run goes on
    url = f"/agents/slow-writer/runs/{run_id}/resume"
    second: list[BaseRunEvent] = []
    with httpx.stream("POST", f"{served}{url}", data={"last_event_index": "5"}, timeout=30) as response:
        assert response.status_code == 200
        events = sse_events(response)
        second.append(next(events))
        assert httpx.post(f"{api_b.url}/agents/slow-writer/runs/{run_id}/cancel", timeout=30).json()[
            "cancelled"
        ]
        second += list(events)
    indexes = [event.event_index for event in first + second]
    assert indexes == list(range(len(indexes))), "an event was lost or sent twice across the reconnect"
    assert names(second)[-1] == "RunCancelled"
