"""The `/sessions` routes of a real `kern serve`, beside those of Agno 3.1.10's AgentOS (its app in this
process, on the same model server) for the same agent and team: the same fields, the same paging,
filters and errors; and a session of another user answers as a missing one, on every route."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kern.db import db_from_url
from kern.model_server import ModelServer
from kern.os.agentos import db_id
from kern.specs import new_id
from tests.http.app import FAST, word_count
from tests.http.conftest import KernServer

Answer = Any
"""An answer of either server (Agno's test client's responses are not httpx's type)."""


@pytest.fixture(scope="module")
def agno(model_server: ModelServer) -> Iterator[TestClient]:
    """Agno's AgentOS serving `tests.http.app`'s writer and Quick Team (its member's id is the one the
    model server's delegation picks, "example")."""
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from agno.agent import Agent
    from agno.db.in_memory import InMemoryDb
    from agno.models.openai import OpenAIResponses
    from agno.os import AgentOS
    from agno.team import Team

    headers = {"x-kern-tokens-per-second": str(FAST["tokens_per_second"]),
               "x-kern-reply-words": str(FAST["reply_words"])}  # fmt: skip

    def model(model_id: str) -> OpenAIResponses:
        return OpenAIResponses(
            id=model_id, base_url=model_server.base_url, api_key="k", default_headers=headers
        )

    db = InMemoryDb()
    writer = Agent(name="Writer", model=model("writer"), tools=[word_count], instructions="Be brief.", db=db)
    member = Agent(name="Quick Writer", id="example", model=model("quick-writer"), description="Writes fast")
    quick = Team(
        name="Quick Team", members=[member], model=model("quick-leader"), respond_directly=True, db=db
    )
    with TestClient(AgentOS(agents=[writer], teams=[quick], db=db).get_app()) as client:
        yield client


def run(http: httpx.Client | TestClient, path: str, message: str, session_id: str, user_id: str) -> None:
    body = {"message": message, "stream": "false", "session_id": session_id, "user_id": user_id}
    answer = http.post(path, data=body)
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED", answer.text


def both(
    agno: TestClient, client: httpx.Client, method: str, path: str, **kwargs: Any
) -> tuple[Answer, Answer]:
    """(Agno's answer, kern's answer) to the same request."""
    return agno.request(method, path, **kwargs), client.request(method, path, **kwargs)


def keys(body: dict[str, Any]) -> set[str]:
    return set(body)


@pytest.fixture(scope="module")
def sessions(agno: TestClient, api: KernServer) -> dict[str, str]:
    """An agent session (the writer calls its tool) and a team session (the leader delegates), made the
    same way on both servers, for a user of their own."""
    user = f"user-{new_id()[:8]}"
    made = {"user": user, "agent": f"agent-{user}", "team": f"team-{user}"}
    with httpx.Client(base_url=api.url, timeout=60) as client:
        for http in (agno, client):
            run(http, "/agents/writer/runs", "Count the words of this", made["agent"], user)
            run(http, "/teams/quick-team/runs", "Hello team", made["team"], user)
    return made


def test_the_list_answers_agnos_fields_and_names_a_session_by_its_first_message(
    agno: TestClient, client: httpx.Client, sessions: dict[str, str]
) -> None:
    theirs, ours = both(agno, client, "GET", "/sessions", params={"user_id": sessions["user"]})
    assert (theirs.status_code, ours.status_code) == (200, 200)
    assert set(ours.json()["meta"]) == set(theirs.json()["meta"])
    assert ours.json()["meta"] | {"search_time_ms": 0} == {
        "page": 1, "limit": 20, "total_pages": 1, "total_count": 2, "search_time_ms": 0,
    }  # fmt: skip
    mine = {s["session_id"]: s for s in ours.json()["data"]}
    for item in theirs.json()["data"]:
        kind = item["session_type"]
        ours_item = mine[sessions[kind]]
        assert keys(ours_item) == keys(item), kind
        assert ours_item["session_name"] == item["session_name"], "the first user message names it"
        assert (ours_item["session_type"], ours_item[f"{kind}_id"]) == (kind, item[f"{kind}_id"])
        # Agno's metrics add a per-model breakdown ("details") kern's run metrics do not keep.
        assert set(ours_item["metrics"]) == set(item["metrics"]) - {"details"}
        assert ours_item["total_tokens"] == ours_item["metrics"]["total_tokens"] > 0
        assert datetime.fromisoformat(ours_item["created_at"]) <= datetime.fromisoformat(
            ours_item["updated_at"]
        )
    assert mine[sessions["agent"]]["session_name"] == "Count the words of this"


def test_a_session_is_read_with_agnos_fields_and_chat_history(
    agno: TestClient, client: httpx.Client, sessions: dict[str, str]
) -> None:
    for kind in ("agent", "team"):
        theirs, ours = both(agno, client, "GET", f"/sessions/{sessions[kind]}")
        assert (theirs.status_code, ours.status_code) == (200, 200)
        assert keys(ours.json()) == keys(theirs.json()), kind
        assert ours.json()[f"{kind}_data"] == theirs.json()[f"{kind}_data"]  # name, id, model
        assert ours.json()["total_tokens"] == ours.json()["metrics"]["total_tokens"]
    theirs, ours = both(agno, client, "GET", f"/sessions/{sessions['agent']}")
    # The user's message, the tool call, the answer: no system or tool messages (as Agno's).
    roles = [m["role"] for m in ours.json()["chat_history"]]
    assert roles == [m["role"] for m in theirs.json()["chat_history"]] == ["user", "assistant", "assistant"]
    assert ours.json()["chat_history"][0]["content"] == "Count the words of this"

    typed = client.get(f"/sessions/{sessions['agent']}", params={"type": "agent"})
    assert typed.status_code == 200
    for params in ({"type": "team"}, {"type": "workflow"}, {"user_id": "someone-else"}):
        assert client.get(f"/sessions/{sessions['agent']}", params=params).status_code == 404, params


def test_runs_previews_and_one_run_answer_agnos_shapes(
    agno: TestClient, client: httpx.Client, sessions: dict[str, str]
) -> None:
    # Agno's AgentOS stores a run's events; kern stores them with `store_events=True`.
    theirs, ours = both(agno, client, "GET", f"/sessions/{sessions['agent']}/runs")
    assert (theirs.status_code, ours.status_code) == (200, 200)
    assert len(ours.json()) == len(theirs.json()) == 1
    assert keys(theirs.json()[0]) - {"events"} <= keys(ours.json()[0])
    run = ours.json()[0]
    assert (run["run_input"], run["parent_run_id"], run["agent_id"]) == (
        "Count the words of this",
        "",
        "writer",
    )
    assert run["tools"][0]["tool_name"] == "word_count" and run["run_response_format"] == "text"

    # A team session lists its member's run too, as a run of its own under the team run.
    theirs, ours = both(agno, client, "GET", f"/sessions/{sessions['team']}/runs")
    team_runs = ours.json()
    by_kind = {("team_id" in r): r for r in team_runs}
    their_kinds = {("team_id" in r): r for r in theirs.json()}
    assert len(ours.json()) == len(theirs.json()) == 2
    for is_team in (True, False):
        assert keys(their_kinds[is_team]) - {"events"} <= keys(by_kind[is_team]), is_team
    assert by_kind[False]["parent_run_id"] == by_kind[True]["run_id"]
    assert by_kind[False]["agent_id"] == "quick-writer" and by_kind[True]["team_id"] == "quick-team"

    theirs, ours = both(agno, client, "GET", f"/sessions/{sessions['team']}/run-previews")
    assert (theirs.status_code, ours.status_code) == (200, 200)
    assert sorted(map(sorted, ours.json())) == sorted(map(sorted, theirs.json()))
    assert [p["run_id"] for p in ours.json()] == [r["run_id"] for r in team_runs]
    assert all(len(p["content_preview"]) <= 280 for p in ours.json())

    member, team = by_kind[False], by_kind[True]
    for one in (member, team):
        theirs_one = agno.get(f"/sessions/{sessions['team']}/runs/{their_kinds['team_id' in one]['run_id']}")
        ours_one = client.get(f"/sessions/{sessions['team']}/runs/{one['run_id']}")
        assert (theirs_one.status_code, ours_one.status_code) == (200, 200)
        assert keys(ours_one.json()) == keys(theirs_one.json())  # every field, nulls included
        assert ours_one.json()["run_id"] == one["run_id"]
    elsewhere = client.get(f"/sessions/{sessions['agent']}/runs/{team['run_id']}")
    assert elsewhere.status_code == 404 and team["run_id"] in elsewhere.json()["detail"]


def test_runs_are_filtered_by_time_and_status(
    agno: TestClient, client: httpx.Client, sessions: dict[str, str]
) -> None:
    path = f"/sessions/{sessions['team']}/runs"
    everything = client.get(path).json()
    started = min(int(datetime.fromisoformat(r["created_at"]).timestamp()) for r in everything)
    assert len(client.get(path, params={"created_after": started}).json()) == 2
    assert client.get(path, params={"created_after": int(time.time()) + 60}).json() == []
    assert client.get(path, params={"created_before": started - 1}).json() == []
    assert len(client.get(path, params={"status": ["completed", "ERROR"]}).json()) == 2
    assert client.get(path, params={"status": ["RUNNING", "PAUSED"]}).json() == []
    assert client.get(f"{path[:-5]}/run-previews", params={"status": "cancelled"}).json() == []
    theirs, ours = both(agno, client, "GET", path, params={"status": "done"})
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()) == (400, ours.json())
    assert "Invalid status value(s) ['DONE']" in ours.json()["detail"]


def test_pages_sorts_and_filters_are_agnos(client: httpx.Client) -> None:
    user = f"pager-{new_id()[:8]}"
    made = [f"{user}-{n}" for n in range(5)]
    for session_id in made:
        created = client.post(
            "/sessions",
            params={"type": "agent"},
            json={"session_id": session_id, "user_id": user, "agent_id": "writer"},
        )
        assert created.status_code == 201, created.text
    assert (
        client.post(f"/sessions/{made[1]}/rename", json={"session_name": "Trip to Oslo"}).status_code == 200
    )
    assert client.post(f"/sessions/{made[3]}/rename", json={"session_name": "OSLO budget"}).status_code == 200

    def listed(**params: Any) -> tuple[list[str], dict[str, Any]]:
        answer = client.get("/sessions", params={"user_id": user, **params})
        assert answer.status_code == 200, answer.text
        return [s["session_id"] for s in answer.json()["data"]], answer.json()["meta"]

    assert listed()[0] == made[::-1], "newest first by default (created_at, desc)"
    assert listed(sort_order="asc")[0] == made
    first, meta = listed(limit=2, page=2, sort_order="asc")
    assert first == made[2:4]
    assert meta | {"search_time_ms": 0} == {
        "page": 2,
        "limit": 2,
        "total_pages": 3,
        "total_count": 5,
        "search_time_ms": 0,
    }
    beyond, beyond_meta = listed(limit=2, page=4)
    assert beyond == [] and (beyond_meta["page"], beyond_meta["total_pages"]) == (4, 3)
    assert listed(sort_by="updated_at")[0][:2] == [made[3], made[1]], "renamed last"
    assert listed(session_name="oslo", sort_by="session_id", sort_order="asc")[0] == [made[1], made[3]]
    assert listed(session_name="oslo")[1]["total_count"] == 2
    assert listed(type="team")[0] == [] and listed(type="workflow")[0] == []
    assert listed(component_id="writer")[1]["total_count"] == 5
    for bad in ({"sort_by": "nothing"}, {"sort_order": "up"}, {"page": 0}, {"limit": 0}, {"limit": 1001}):
        assert client.get("/sessions", params=bad).status_code == 422, bad


def test_create_rename_update_as_agno(agno: TestClient, client: httpx.Client) -> None:
    session_id = f"made-{new_id()}"
    body = {"session_id": session_id, "agent_id": "writer", "session_state": {"cart": []}, "user_id": "ada"}
    theirs, ours = both(agno, client, "POST", "/sessions", json=body)
    assert (theirs.status_code, ours.status_code) == (201, 201)
    assert keys(ours.json()) == keys(theirs.json())
    assert ours.json()["session_state"] == {"cart": []} and ours.json()["session_name"] == ""
    theirs, ours = both(agno, client, "POST", "/sessions", json=body)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()) == (409, ours.json())

    theirs, ours = both(
        agno, client, "POST", f"/sessions/{session_id}/rename", json={"session_name": "Shopping"}
    )
    assert (theirs.status_code, ours.status_code) == (200, 200)
    assert ours.json() == theirs.json() | {
        "created_at": ours.json()["created_at"],
        "updated_at": ours.json()["updated_at"],
    }

    change = {"session_state": {"cart": ["apple"]}, "session_name": "Groceries"}
    theirs, ours = both(agno, client, "PATCH", f"/sessions/{session_id}", json=change)
    assert (theirs.status_code, ours.status_code) == (200, 200)
    assert keys(ours.json()) == keys(theirs.json())
    assert (ours.json()["session_name"], ours.json()["session_state"]) == ("Groceries", {"cart": ["apple"]})

    # A run in the session joins it and keeps its state and name.
    run(client, "/agents/writer/runs", "Add pears", session_id, "ada")
    after = client.get(f"/sessions/{session_id}").json()
    assert (after["session_name"], after["agent_id"]) == ("Groceries", "writer")
    assert [m["content"] for m in after["chat_history"] if m["role"] == "user"] == ["Add pears"]

    anonymous = client.post("/sessions", params={"type": "team"})
    assert anonymous.status_code == 201 and "team_id" not in anonymous.json()
    run(client, "/teams/quick-team/runs", "Hi", anonymous.json()["session_id"], "ada")
    assert client.get(f"/sessions/{anonymous.json()['session_id']}").json()["team_id"] == "quick-team"


def test_what_kern_does_not_keep_is_refused_clearly(client: httpx.Client) -> None:
    session_id = f"refused-{new_id()}"
    assert client.post("/sessions", json={"session_id": session_id}).status_code == 201
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/sessions", {"params": {"type": "workflow"}}, "kern has no workflows"),
        ("POST", "/sessions", {"json": {"workflow_id": "flow"}}, "kern has no workflows"),
        ("POST", "/sessions", {"json": {"metadata": {"a": 1}}}, "no session metadata"),
        ("PATCH", f"/sessions/{session_id}", {"json": {"metadata": {"a": 1}}}, "no session metadata"),
        ("PATCH", f"/sessions/{session_id}", {"json": {"summary": {"summary": "x"}}}, "no session summaries"),
    ]
    for method, path, kwargs, expected in cases:
        answer = client.request(method, path, **kwargs)
        assert answer.status_code == 400 and expected in answer.json()["detail"], (path, answer.text)
    deep = b'{"session_state": ' + b'{"a": ' * 40 + b"1" + b"}" * 41
    answer = client.patch(
        f"/sessions/{session_id}", content=deep, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422 and "nested more than" in answer.json()["detail"]
    assert client.get(f"/sessions/{session_id}").json()["session_name"] == "", "nothing was changed"
    # Agno's delete_media: kern stores no media, so there is nothing more to delete.
    assert client.delete(f"/sessions/{session_id}", params={"delete_media": True}).status_code == 204
    assert client.get(f"/sessions/{session_id}").status_code == 404


def test_databases_are_picked_as_agno_picks_them(
    agno: TestClient, client: httpx.Client, api: KernServer
) -> None:
    for params in ({"db_id": "no-such-db"}, {"table": "kern_sessions"}):
        theirs, ours = both(agno, client, "GET", "/sessions", params=params)
        assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), params
    served = db_id(db_from_url(f"sqlite:///{api.log.parent / 'kern.db'}"))
    assert client.get("/sessions", params={"db_id": served, "table": "kern_sessions"}).status_code == 200
    wrong_table = client.get("/sessions", params={"db_id": served, "table": "agno_sessions"})
    assert wrong_table.status_code == 404 and "has table 'agno_sessions'" in wrong_table.json()["detail"]


def test_deleting_several_sessions(agno: TestClient, client: httpx.Client) -> None:
    ids = [f"bulk-{new_id()}" for _ in range(3)]
    for session_id, user in zip(ids, ("ada", "ada", "bob"), strict=True):
        assert client.post("/sessions", json={"session_id": session_id, "user_id": user}).status_code == 201
    mismatch = {"session_ids": ids, "session_types": ["agent"]}
    theirs, ours = both(agno, client, "DELETE", "/sessions", json=mismatch)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()) == (400, ours.json())

    body = {"session_ids": [*ids, "not-there"], "session_types": ["agent"] * 4}
    assert client.request("DELETE", "/sessions", json=body, params={"user_id": "ada"}).status_code == 204
    assert [client.get(f"/sessions/{s}").status_code for s in ids] == [404, 404, 200], "bob's stays"
    assert client.request("DELETE", "/sessions", json=body).status_code == 204
    assert client.get(f"/sessions/{ids[2]}").status_code == 404
    assert client.delete(f"/sessions/{ids[2]}").status_code == 404, "a missing session, as before"


def test_another_users_session_is_a_missing_one_on_every_route(client: httpx.Client) -> None:
    session_id = f"owned-{new_id()}"
    run(client, "/agents/writer/runs", "Hi", session_id, "ada")
    run_id = client.get(f"/sessions/{session_id}/runs").json()[0]["run_id"]
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/sessions/{session_id}", {}),
        ("GET", f"/sessions/{session_id}/runs", {}),
        ("GET", f"/sessions/{session_id}/run-previews", {}),
        ("GET", f"/sessions/{session_id}/runs/{run_id}", {}),
        ("POST", f"/sessions/{session_id}/rename", {"json": {"session_name": "Stolen"}}),
        ("PATCH", f"/sessions/{session_id}", {"json": {"session_state": {"stolen": True}}}),
        ("DELETE", f"/sessions/{session_id}", {}),
    ]
    for method, path, kwargs in routes:
        theirs = client.request(method, path, params={"user_id": "mallory"}, **kwargs)
        missing = client.request(
            method, path.replace(session_id, f"missing-{session_id}"), params={"user_id": "mallory"}, **kwargs
        )
        assert theirs.status_code == missing.status_code == 404, (method, path)
        assert theirs.json()["detail"] == missing.json()["detail"].replace(
            f"missing-{session_id}", session_id
        )
    body = {"session_ids": [session_id], "session_types": ["agent"]}
    assert client.request("DELETE", "/sessions", json=body, params={"user_id": "mallory"}).status_code == 204
    listed = client.get("/sessions", params={"user_id": "mallory"}).json()
    assert listed["data"] == [] and listed["meta"]["total_count"] == 0
    kept = client.get(f"/sessions/{session_id}", params={"user_id": "ada"})
    assert (
        kept.status_code == 200 and kept.json()["session_name"] == "Hi" and kept.json()["session_state"] == {}
    )
    assert client.delete(f"/sessions/{session_id}", params={"user_id": "ada"}).status_code == 204
