"""Runs and sessions are owned: read or cancelled only through their own agent or team route, and by
their session and user when the request names them; anything else is a 404 that changes nothing."""

from __future__ import annotations

import httpx

from kern.specs import new_id
from tests.http.conftest import KernServer, sse_events


def test_a_run_is_cancelled_only_through_its_own_route_and_by_its_own_user(api: KernServer) -> None:
    run_id, session = new_id(), f"own-{new_id()}"
    body = {"message": "A long one", "run_id": run_id, "session_id": session, "user_id": "ada"}
    with (
        httpx.Client(base_url=api.url, timeout=30) as client,
        client.stream("POST", "/agents/slow-writer/runs", data=body) as stream,
    ):
        events = sse_events(stream)
        assert next(e for e in events if e.event.value == "RunContent")  # it is streaming
        for path, params in (
            (f"/teams/storytelling-team/runs/{run_id}/cancel", {}),
            (f"/agents/writer/runs/{run_id}/cancel", {}),
            (f"/agents/slow-writer/runs/{run_id}/cancel", {"user_id": "mallory"}),
            (f"/agents/slow-writer/runs/{run_id}/cancel", {"session_id": "another-session"}),
        ):
            refused = client.post(path, params=params)
            assert refused.status_code == 404, (path, params, refused.text)
            assert run_id in refused.json()["detail"]
        more = next(events)
        assert more.event.value == "RunContent", "the run goes on"
        cancel = client.post(
            f"/agents/slow-writer/runs/{run_id}/cancel", params={"user_id": "ada", "session_id": session}
        )
        assert cancel.json() == {"run_id": run_id, "cancelled": True}
        assert [e.event.value for e in events][-1] == "RunCancelled"


def test_a_stored_run_and_session_are_read_only_by_their_route_and_user(client: httpx.Client) -> None:
    run_id, session = new_id(), f"own-{new_id()}"
    body = {"message": "Hi", "stream": "false", "run_id": run_id, "session_id": session, "user_id": "ada"}
    assert client.post("/agents/writer/runs", data=body).status_code == 200
    own = f"/agents/writer/runs/{run_id}"
    assert client.get(own).status_code == 200
    assert client.get(own, params={"user_id": "ada", "session_id": session}).status_code == 200
    for path, params in (
        (f"/agents/slow-writer/runs/{run_id}", {}),
        (f"/teams/quick-team/runs/{run_id}", {}),
        (own, {"user_id": "mallory"}),
        (own, {"session_id": "another-session"}),
        (f"/agents/slow-writer/runs/{run_id}/cancel", {}),
        (f"{own}/cancel", {"user_id": "mallory"}),
    ):
        method = "POST" if path.endswith("/cancel") else "GET"
        assert client.request(method, path, params=params).status_code == 404, (path, params)
    assert client.post(f"{own}/cancel", params={"user_id": "ada"}).json()["cancelled"] is False
    for path in (f"/sessions/{session}", f"/sessions/{session}/runs"):
        assert client.get(path, params={"user_id": "ada"}).status_code == 200
        assert client.get(path, params={"user_id": "mallory"}).status_code == 404
    assert client.delete(f"/sessions/{session}", params={"user_id": "mallory"}).status_code == 404
    assert client.get(f"/sessions/{session}").status_code == 200, "a refused delete deletes nothing"
    assert client.delete(f"/sessions/{session}", params={"user_id": "ada"}).status_code == 204
    assert client.get(f"/sessions/{session}").status_code == 404


def test_an_early_cancel_stops_only_a_run_of_its_own_route(client: httpx.Client) -> None:
    elsewhere, here = new_id(), new_id()
    for run_id in (elsewhere, here):
        early = client.post(f"/agents/writer/runs/{run_id}/cancel")
        assert early.json() == {"run_id": run_id, "cancelled": False}
    # Started on another route, the id was never the writer's: the early cancel does not touch it.
    body = {"message": "Hi", "stream": "false"}
    other = client.post("/teams/quick-team/runs", data={**body, "run_id": elsewhere})
    assert other.status_code == 200 and other.json()["status"] == "COMPLETED", other.text
    mine = client.post("/agents/writer/runs", data={**body, "run_id": here})
    assert mine.status_code == 200 and mine.json()["status"] == "CANCELLED", mine.text
