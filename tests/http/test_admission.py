"""Admission over HTTP: past an agent's `Admission` a run waits its turn, and past its queue it is refused
with 429 and `Retry-After`, by whichever server it reaches (the limit is the replica's)."""

from __future__ import annotations

import concurrent.futures

import httpx

from kern.specs import new_id
from tests.http.conftest import KernServer, sse_events, wait_for

AGENT = "gated-writer"
"""Lets in one run at a time and keeps one waiting (`Admission(max_runs=1, max_queued=1)`)."""


def test_a_flood_of_runs_past_the_queue_answers_429_with_retry_after(
    client: httpx.Client, api_b: KernServer
) -> None:
    holding = new_id()
    with client.stream(
        "POST", f"/agents/{AGENT}/runs", data={"message": "Write", "run_id": holding}
    ) as stream:
        events = sse_events(stream)
        assert next(events).event.value == "RunStarted"
        queued = client.post(
            f"/agents/{AGENT}/runs", data={"message": "Write", "background": "true", "stream": "false"}
        )
        assert queued.status_code == 202, "a run that waits its turn is taken"
        waiting = queued.json()["run_id"]

        def post(url: str) -> httpx.Response:
            return httpx.post(
                f"{url}/agents/{AGENT}/runs", data={"message": "Write", "stream": "false"}, timeout=60
            )

        urls = [str(client.base_url), api_b.url] * 6
        with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
            answers = list(pool.map(post, urls))
        assert [answer.status_code for answer in answers] == [429] * len(urls), [a.text for a in answers]
        for answer in answers:
            assert int(answer.headers["retry-after"]) >= 1
            assert (
                "1 runs in flight and 1 waiting on this replica (max_runs=1, max_queued=1)"
                in answer.json()["detail"]
            )
        streamed = httpx.post(
            f"{api_b.url}/agents/{AGENT}/runs", data={"message": "Write", "stream": "true"}, timeout=60
        )
        assert streamed.status_code == 429, "a stream is refused before it begins"

        assert client.post(f"/agents/{AGENT}/runs/{holding}/cancel").json()["cancelled"] is True
        assert [event.event.value for event in events][-1] == "RunCancelled"
    url = f"{api_b.url}/agents/{AGENT}/runs/{waiting}"
    wait_for(lambda: httpx.get(url, timeout=10).json().get("content"), what="the queued run's turn")
    assert client.post(f"/agents/{AGENT}/runs/{waiting}/cancel").json()["cancelled"] is True
    wait_for(lambda: httpx.get(url, timeout=10).json()["status"] == "CANCELLED", what="its record")
