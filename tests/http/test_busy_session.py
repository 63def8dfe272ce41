"""The busy-session policy over HTTP: kern's `busy_session` field on `POST .../runs`."""

from __future__ import annotations

import httpx

from kern.specs import new_id
from tests.http.conftest import KernServer, sse_events

AGENT = "slow-writer"


def test_reject_answers_409_naming_the_run_in_flight(client: httpx.Client, api_b: KernServer) -> None:
    session, first = new_id(), new_id()
    form = {"message": "Write a long story", "session_id": session, "run_id": first}
    with client.stream("POST", f"/agents/{AGENT}/runs", data=form) as stream:
        events = sse_events(stream)
        assert next(events).event.value == "RunStarted"
        busy = {"message": "Something else", "session_id": session, "busy_session": "reject"}
        for url in (client.base_url, api_b.url):  # (whichever server the second run reaches)
            refused = httpx.post(f"{url}/agents/{AGENT}/runs", data=busy, timeout=30)
            assert refused.status_code == 409, refused.text
            assert f"has a run in flight: {first}" in refused.json()["detail"]
        streamed = httpx.post(f"{api_b.url}/agents/{AGENT}/runs", data={**busy, "stream": "true"}, timeout=30)
        assert streamed.status_code == 409
        cancel = client.post(f"/agents/{AGENT}/runs/{first}/cancel")
        assert cancel.json()["cancelled"] is True
        assert [e.event.value for e in events][-1] == "RunCancelled"


def test_an_unknown_policy_is_a_422(client: httpx.Client) -> None:
    answer = client.post(f"/agents/{AGENT}/runs", data={"message": "Hi", "busy_session": "later"})
    assert answer.status_code == 422 and "busy_session must be one of" in answer.text
