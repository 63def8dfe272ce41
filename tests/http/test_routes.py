"""AgentOS routes over real HTTP: description routes, runs as JSON and SSE, reading runs and sessions
back, and bad input."""

from __future__ import annotations

import httpx

from kern.run.base import RunStatus
from kern.specs import new_id
from tests.http.conftest import KernServer, sse_events
from tests.support import assert_one_terminal_last, names


def test_health_config_openapi_and_docs(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and set(health) == {"status", "instantiated_at"}
    config = client.get("/config").json()
    assert [(a["id"], a["name"]) for a in config["agents"]] == [
        ("writer", "Writer"),
        ("slow-writer", "Slow Writer"),
        ("stalled-writer", "Stalled Writer"),
        ("publisher", "Publisher"),
        ("gated-writer", "Gated Writer"),
    ]
    assert [(t["id"], t["name"], t["mode"]) for t in config["teams"]] == [
        ("storytelling-team", "Storytelling Team", "coordinate"),
        ("quick-team", "Quick Team", "route"),
        ("publishing-desk", "Publishing Desk", "coordinate"),
    ]
    assert config["databases"] == [config["os_database"]] and config["company"] is None
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "kern AgentOS"
    assert {
        "/health",
        "/config",
        "/agents",
        "/agents/{agent_id}",
        "/agents/{agent_id}/runs",
        "/agents/{agent_id}/runs/{run_id}",
        "/agents/{agent_id}/runs/{run_id}/cancel",
        "/agents/{agent_id}/runs/{run_id}/continue",
        "/teams",
        "/teams/{team_id}",
        "/teams/{team_id}/runs",
        "/teams/{team_id}/runs/{run_id}",
        "/teams/{team_id}/runs/{run_id}/cancel",
        "/teams/{team_id}/runs/{run_id}/continue",
        "/sessions",
        "/sessions/{session_id}",
        "/sessions/{session_id}/runs",
    } <= set(spec["paths"])
    create = spec["paths"]["/teams/{team_id}/runs"]["post"]
    assert [p["name"] for p in create["parameters"]] == ["team_id"]
    assert set(create["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert "delete" in spec["paths"]["/sessions/{session_id}"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_agents_and_teams_are_described(client: httpx.Client) -> None:
    agents = client.get("/agents").json()
    assert [a["id"] for a in agents] == [
        "writer",
        "slow-writer",
        "stalled-writer",
        "publisher",
        "gated-writer",
    ]
    writer = client.get("/agents/writer").json()
    assert writer["model"] == {"name": "OpenAIResponses", "model": "writer", "provider": "OpenAI"}
    assert writer["system_message"] == {"instructions": "Be brief."} and "description" not in writer
    assert [tool["name"] for tool in writer["tools"]["tools"]] == ["word_count"]
    teams = client.get("/teams").json()
    assert [t["id"] for t in teams] == ["storytelling-team", "quick-team", "publishing-desk"]
    team = client.get("/teams/storytelling-team").json()
    assert team["description"] == "A team that collaborates to write detailed stories"
    assert team["model"]["model"] == "leader-fast" and team["mode"] == "coordinate"
    assert [(m["id"], m["name"], m["model"]["model"]) for m in team["members"]] == [
        ("storytelleragent", "StorytellerAgent", "story-slow"),
        ("editoragent", "EditorAgent", "editor-slow"),
    ]
    quick = client.get("/teams/quick-team").json()
    assert quick["mode"] == "route" and quick["respond_directly"] and not quick["delegate_to_all_members"]
    assert "api_key" not in str(agents + teams)


def test_agent_run_as_json_form_and_multipart(client: httpx.Client) -> None:
    response = client.post("/agents/writer/runs", data={"message": "Count my words", "stream": "false"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    output = response.json()
    assert output["run_id"] == response.headers["x-run-id"]
    assert output["session_id"] == response.headers["x-session-id"]
    assert output["status"] == RunStatus.completed.value and output["agent_id"] == "writer"
    assert [t["tool_name"] for t in output["tools"]] == ["word_count"]
    assert output["content"].startswith("Based on")

    run_id = new_id()
    multipart = {"message": (None, "Hello"), "stream": (None, "false"), "run_id": (None, run_id)}
    response = client.post("/agents/writer/runs", files=multipart)
    assert response.status_code == 200, response.text
    assert response.json()["run_id"] == run_id == response.headers["x-run-id"]

    stored = client.get(f"/agents/writer/runs/{run_id}")
    assert stored.status_code == 200
    assert stored.json()["status"] == "COMPLETED" and stored.json()["input"] == {"input_content": "Hello"}


def test_agent_run_streams_sse_with_the_event_json(client: httpx.Client) -> None:
    body = {"message": "Count my words", "session_id": "s-stream", "user_id": "u-stream"}
    with client.stream("POST", "/agents/writer/runs", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in response.headers
        run_id = response.headers["x-run-id"]
        events = list(sse_events(response))
    assert names(events) == [
        "RunStarted",
        "ToolCallStarted",
        "ToolCallCompleted",
        "RunContent",
        "RunContentCompleted",
        "RunCompleted",
    ]
    final = assert_one_terminal_last(events, run_id)
    assert {(e.session_id, e.user_id) for e in events} == {("s-stream", "u-stream")}
    assert final.content == "".join(e.content for e in events if e.event.value == "RunContent")


def test_team_run_as_json_and_read_back_with_member_responses(client: httpx.Client) -> None:
    response = client.post("/teams/quick-team/runs", json={"message": "Write a story", "stream": False})
    assert response.status_code == 200, response.text
    output = response.json()
    assert (output["team_id"], output["status"]) == ("quick-team", "COMPLETED"), output
    [member] = output["member_responses"]
    assert (member["agent_id"], member["status"], member["parent_run_id"]) == (
        "quick-writer",
        "COMPLETED",
        output["run_id"],
    )
    assert output["content"] == member["content"]  # route mode: the member's answer is the team's

    stored = client.get(f"/teams/quick-team/runs/{output['run_id']}").json()
    assert stored["status"] == "COMPLETED" and stored["content"] == output["content"]
    assert [m["run_id"] for m in stored["member_responses"]] == [member["run_id"]]
    # A run is only found under its own component.
    assert client.get(f"/teams/storytelling-team/runs/{output['run_id']}").status_code == 404
    assert client.get(f"/agents/writer/runs/{output['run_id']}").status_code == 404


def test_sessions_list_filter_get_runs_and_delete(client: httpx.Client) -> None:
    user = f"user-{new_id()[:8]}"
    agent_session, team_session = f"s-agent-{user}", f"s-team-{user}"
    for session_id, path in (
        (agent_session, "/agents/writer/runs"),
        (team_session, "/teams/quick-team/runs"),
    ):
        body = {"message": "Hi", "stream": False, "session_id": session_id, "user_id": user}
        assert client.post(path, json=body).status_code == 200
    first = client.post(
        "/agents/writer/runs", json={"message": "Again", "stream": False, "session_id": agent_session}
    )
    assert first.status_code == 200

    def listed(**params: object) -> list[dict[str, object]]:
        page = client.get("/sessions", params={"user_id": user, **params})
        assert page.status_code == 200, page.text
        return page.json()["data"]  # type: ignore[no-any-return]

    assert {s["session_id"] for s in listed()} == {agent_session, team_session}
    assert listed(sort_by="updated_at")[0]["session_id"] == agent_session  # most recently updated first
    only_agents = listed(type="agent")
    assert [(s["session_id"], s["agent_id"]) for s in only_agents] == [(agent_session, "writer")]
    assert [s["session_id"] for s in listed(component_id="quick-team", type="team")] == [team_session]
    assert len(listed(limit=1)) == 1

    session = client.get(f"/sessions/{agent_session}").json()
    assert (session["agent_id"], session["user_id"]) == ("writer", user)
    assert [m["content"] for m in session["chat_history"] if m["role"] == "user"] == ["Hi", "Again"]
    runs = client.get(f"/sessions/{team_session}/runs").json()
    team_run = next(r for r in runs if r.get("team_id") == "quick-team")
    assert [r["parent_run_id"] for r in runs if r is not team_run] == [team_run["run_id"]]  # its member

    assert client.delete(f"/sessions/{agent_session}").status_code == 204
    assert client.get(f"/sessions/{agent_session}").status_code == 404
    assert client.delete(f"/sessions/{agent_session}").status_code == 404
    assert client.get(f"/agents/writer/runs/{first.json()['run_id']}").status_code == 404
    assert {s["session_id"] for s in listed()} == {team_session}


def test_unknown_ids_are_404_naming_what_is_missing(client: httpx.Client) -> None:
    cases = {
        ("POST", "/agents/nobody/runs"): "agent 'nobody' not found",
        ("GET", "/agents/nobody"): "agent 'nobody' not found",
        ("POST", "/teams/no-team/runs"): "team 'no-team' not found",
        ("GET", "/teams/no-team"): "team 'no-team' not found",
        ("POST", "/teams/no-team/runs/r-1/cancel"): "team 'no-team' not found",
        ("POST", "/agents/nobody/runs/r-1/cancel"): "agent 'nobody' not found",
        ("GET", "/teams/storytelling-team/runs/no-such-run"): "run 'no-such-run'",
        ("GET", "/agents/writer/runs/no-such-run"): "run 'no-such-run'",
        ("GET", "/sessions/no-such-session"): "session 'no-such-session' not found",
        ("GET", "/sessions/no-such-session/runs"): "session 'no-such-session' not found",
        ("DELETE", "/sessions/no-such-session"): "session 'no-such-session' not found",
    }
    for (method, path), expected in cases.items():
        response = client.request(method, path, json={"message": "hi"} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert expected in response.json()["detail"], (path, response.json())
    assert "storytelling-team" in client.get("/teams/no-team").json()["detail"]  # names the known ids


def test_cancel_of_an_unknown_run_is_not_an_error(client: httpx.Client) -> None:
    run_id = new_id()
    response = client.post(f"/agents/writer/runs/{run_id}/cancel")
    assert response.status_code == 200
    assert response.json() == {"run_id": run_id, "cancelled": False}


def test_bad_run_input_is_422_with_a_clear_message(client: httpx.Client, api: KernServer) -> None:
    url = "/agents/writer/runs"
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"json": {}}, 422, "message is required"),
        ({"json": {"message": "   "}}, 422, "message must not be empty"),
        ({"json": {"message": 3}}, 422, "message must be a string"),
        ({"json": ["message"]}, 422, "must be an object"),
        ({"json": {"message": "hi", "stream": "maybe"}}, 422, "stream must be true or false"),
        ({"data": {"message": ""}}, 422, "message must not be empty"),
        ({"data": {"stream": "false"}}, 422, "message is required"),
        ({"files": {"message": ("story.txt", b"hi")}}, 422, "message must be a text field"),
        (
            {"content": b'{"message": "hi"', "headers": {"content-type": "application/json"}},
            422,
            "invalid JSON",
        ),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422, "JSON body is empty"),
        ({}, 422, "message is required"),
        ({"content": b"hi", "headers": {"content-type": "text/plain"}}, 415, "unsupported Content-Type"),
    ]
    for kwargs, status, expected in cases:
        response = client.post(url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == status, (kwargs, response.text)
        assert expected in response.json()["detail"], (kwargs, response.json())
    assert client.get("/sessions", params={"type": "robot"}).status_code == 422
    assert client.get("/sessions", params={"limit": 0}).status_code == 422
    # The server is still up and serving runs.
    assert api.process.poll() is None
    ok = client.post(url, data={"message": "Still there?", "stream": "false"})
    assert ok.status_code == 200 and ok.json()["status"] == "COMPLETED"


def test_a_run_id_is_used_once_a_reused_one_is_409_and_changes_nothing(client: httpx.Client) -> None:
    run_id = new_id()
    first = {"message": "Hello", "stream": "false", "run_id": run_id, "session_id": "owner-session"}
    assert client.post("/agents/writer/runs", data=first).status_code == 200
    again = {"message": "Take it over", "stream": "false", "run_id": run_id, "session_id": "thief-session"}
    for path in ("/agents/writer/runs", "/teams/quick-team/runs"):
        taken = client.post(path, data=again)
        assert taken.status_code == 409, taken.text
        assert run_id in taken.json()["detail"]
    stored = client.get(f"/agents/writer/runs/{run_id}").json()
    assert (stored["input"]["input_content"], stored["session_id"]) == ("Hello", "owner-session")
    assert client.get("/sessions/thief-session").status_code == 404


def test_a_run_id_in_flight_cannot_be_taken_either(client: httpx.Client) -> None:
    run_id = new_id()
    with client.stream(
        "POST", "/agents/slow-writer/runs", data={"message": "Go", "run_id": run_id}
    ) as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line == "event: RunContent")  # it is streaming
        taken = client.post("/agents/slow-writer/runs", data={"message": "Mine", "run_id": run_id})
        assert taken.status_code == 409, taken.text
        assert client.post(f"/agents/slow-writer/runs/{run_id}/cancel").json()["cancelled"] is True
        assert [line for line in lines if line.startswith("event:")][-1] == "event: RunCancelled"
