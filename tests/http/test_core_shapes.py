"""The AgentOS object and its core routes against Agno 3.1.10's: the same agents and teams built on both,
`/health`, `/config`, `/agents`, `/teams` compared as a client gets them (ids of databases and of the OS
normalized), plus the constructor, `base_app`, `lifespan`, CORS and the key, through real requests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kern.agent import Agent
from kern.db import SqliteDb
from kern.models.openai import OpenAIChat, OpenAIResponses
from kern.os import AgentOS
from kern.os.auth import SECURITY_KEY_VARIABLE
from kern.os.cors import AGNO_ORIGINS
from kern.team import Team

os.environ.setdefault("AGNO_TELEMETRY", "false")
KERN_ONLY = ("respond_directly", "delegate_to_all_members", "stream_member_events")
"""kern's extra team fields."""
RUN_TOOLS = {"get_chat_history"}
"""Tools kern's engine makes for each run (it reads the run's session): not part of kern's descriptions."""


def word_count(text: str) -> str:
    """Count the words of a text.

    Args:
        text: The text.
    """
    return f"{len(text.split())} words"


WRITER: dict[str, Any] = {
    "tools": [word_count], "instructions": "Be brief.", "description": "Writes.",
    "add_history_to_context": True, "num_history_runs": 5, "markdown": True, "retries": 2,
    "metadata": {"team": "docs"},
}  # fmt: skip
"""The writer's options, the same on Agno and on kern."""


def kern_os(db: SqliteDb, **options: Any) -> AgentOS:
    writer = Agent(name="Writer", model=OpenAIResponses(id="gpt-x", api_key="secret-key"), **WRITER)
    plain = Agent(name="Plain", model=OpenAIChat(id="c1"), read_chat_history=True, introduction="Hello!")
    desk = Team(
        name="Desk", members=[writer, plain], model=OpenAIResponses(id="gpt-x"), respond_directly=True
    )
    return AgentOS(agents=[writer, plain], teams=[desk], db=db, **options)


def agno_app() -> FastAPI:
    from agno.agent import Agent as AgnoAgent
    from agno.db.in_memory import InMemoryDb
    from agno.models.openai import OpenAIChat as AgnoChat
    from agno.models.openai import OpenAIResponses as AgnoResponses
    from agno.os import AgentOS as AgnoOS
    from agno.team import Team as AgnoTeam

    writer = AgnoAgent(name="Writer", model=AgnoResponses(id="gpt-x", api_key="secret-key"), **WRITER)
    plain = AgnoAgent(name="Plain", model=AgnoChat(id="c1"), read_chat_history=True, introduction="Hello!")
    desk = AgnoTeam(
        name="Desk", members=[writer, plain], model=AgnoResponses(id="gpt-x"), respond_directly=True
    )
    return AgnoOS(agents=[writer, plain], teams=[desk], db=InMemoryDb(), telemetry=False).get_app()


@pytest.fixture(scope="module")
def agno() -> Iterator[TestClient]:
    with TestClient(agno_app()) as http:
        yield http


@pytest.fixture
def kern(tmp_path: Any) -> Iterator[TestClient]:
    with TestClient(kern_os(SqliteDb(tmp_path / "kern.db")).get_app()) as http:
        yield http


def normalized(body: Any, ids: dict[str, str]) -> Any:
    """`body` with the ids of databases and of the OS in `ids` replaced by their role."""
    if isinstance(body, dict):
        return {key: normalized(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [normalized(each, ids) for each in body]
    return ids.get(body, body) if isinstance(body, str) else body


def without_extras(described: Any) -> Any:
    """A description (or a list of them) without kern's extra team fields and the per-run tools."""
    if isinstance(described, list):
        return [without_extras(each) for each in described]
    kept = {key: value for key, value in described.items() if key not in KERN_ONLY}
    tools = [_no_enum(t) for t in (kept.get("tools") or {}).get("tools", []) if t["name"] not in RUN_TOOLS]
    if "tools" in kept:
        kept["tools"] = {**kept["tools"], "tools": tools}
        if not tools:
            del kept["tools"]["tools"]
        kept["tools"] = kept["tools"] or None
    if kept.get("tools") is None:
        kept.pop("tools", None)
    if "members" in kept:
        kept["members"] = without_extras(kept["members"])
    return kept


def _no_enum(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool without the `enum` of member ids kern adds to `delegate_task_to_member` (a difference kept
    on purpose: docs/agno-differences.md)."""
    member_id = tool.get("parameters", {}).get("properties", {}).get("member_id")
    if member_id is not None:
        member_id.pop("enum", None)
    return tool


def ids_of(config: dict[str, Any]) -> dict[str, str]:
    """Ids (and session table names) that legitimately differ between Agno and kern, by role."""
    tables = {"agno_sessions": "SESSIONS", "kern_sessions": "SESSIONS"}
    return {config["os_id"]: "OS", **{db: "DB" for db in config["databases"]}, **tables}


def test_agents_and_teams_are_described_as_agno_describes_them(agno: TestClient, kern: TestClient) -> None:
    agno_ids, kern_ids = ids_of(agno.get("/config").json()), ids_of(kern.get("/config").json())
    agents = kern.get("/agents")
    assert agents.status_code == 200
    assert normalized(agents.json(), kern_ids) == without_extras(
        normalized(agno.get("/agents").json(), agno_ids)
    )
    assert normalized(kern.get("/agents/writer").json(), kern_ids) == normalized(
        agno.get("/agents/writer").json(), agno_ids
    )
    team = kern.get("/teams/desk").json()
    assert {key: team[key] for key in KERN_ONLY} == {
        "respond_directly": True,
        "delegate_to_all_members": False,
        "stream_member_events": True,
    }
    expected = without_extras(normalized(agno.get("/teams/desk").json(), agno_ids))
    assert without_extras(normalized(team, kern_ids)) == expected
    assert without_extras(normalized(kern.get("/teams").json(), kern_ids)) == [expected]
    assert "secret-key" not in agents.text + kern.get("/teams").text


def test_config_has_agnos_shape(agno: TestClient, kern: TestClient) -> None:
    ours, theirs = kern.get("/config").json(), agno.get("/config").json()
    assert set(ours) == set(theirs)
    same = (
        "available_models",
        "agents",
        "teams",
        "workflows",
        "interfaces",
        "queue",
        "company",
        "filesystem",
    )
    assert {key: normalized(ours[key], ids_of(ours)) for key in same} == {
        key: normalized(theirs[key], ids_of(theirs)) for key in same
    }
    (db,) = ours["databases"]
    assert ours["os_database"] == db
    assert ours["session"] == {
        "dbs": [{"db_id": db, "domain_config": {"display_name": db}, "tables": ["kern_sessions"]}]
    }
    for feature in ("memory", "learning", "metrics", "evals", "traces"):  # features kern does not have
        assert ours[feature] == {"dbs": []}
    assert ours["knowledge"] == {"dbs": [], "knowledge_instances": []}


def test_config_names_the_os_as_agno_does(tmp_path: Any) -> None:
    named = AgentOS(name="Docs OS", description="Docs.", db=SqliteDb(tmp_path / "kern.db"))
    with TestClient(named.get_app()) as http:
        config = http.get("/config").json()
        assert http.get("/openapi.json").json()["info"]["title"] == "Docs OS"
    from agno.utils.string import generate_id

    assert (config["os_id"], config["name"], config["description"]) == (
        generate_id("Docs OS"),
        "Docs OS",
        "Docs.",
    )
    assert config["agents"] == config["teams"] == [] and "os_database" in config


def test_health_says_when_the_app_was_built(kern: TestClient) -> None:
    first, second = kern.get("/health"), kern.get("/health")
    assert first.status_code == 200 and first.json() == second.json()
    assert set(first.json()) == {"status", "instantiated_at"} and first.json()["status"] == "ok"
    built = datetime.fromisoformat(first.json()["instantiated_at"])
    assert built.tzinfo is not None and built <= datetime.now(built.tzinfo)


def test_the_key_guards_all_but_health(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECURITY_KEY_VARIABLE, "k3y")
    with TestClient(kern_os(SqliteDb(tmp_path / "kern.db")).get_app()) as http:
        assert http.get("/health").status_code == 200
        for path in ("/config", "/agents", "/teams/desk"):
            assert http.get(path).status_code == 401
            assert http.get(path, headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_agnos_options_kern_lacks_are_refused_by_name() -> None:
    agent = Agent(name="Solo", model=OpenAIResponses(id="gpt-x"))
    for option in (
        "workflows",
        "knowledge",
        "interfaces",
        "a2a_interface",
        "mcp",
        "authorization",
        "tracing",
    ):
        with pytest.raises(NotImplementedError, match=rf"AgentOS\({option}=\.\.\.\)"):
            AgentOS(agents=[agent], **{option: None})
    with pytest.raises(TypeError, match="'agnets'"):
        AgentOS(agnets=[agent])
    with pytest.raises(ValueError, match="agents, teams or a database"):
        AgentOS()
    assert AgentOS(agents=[agent], telemetry=False).telemetry is False


def preflight(http: TestClient, origin: str) -> Any:
    return http.options(
        "/agents", headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Authorization": ""}
    )


def test_cors_allows_agnos_origins_unless_told_otherwise(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECURITY_KEY_VARIABLE, "k3y")  # (a preflight carries no key)
    db = SqliteDb(tmp_path / "kern.db")
    with TestClient(kern_os(db).get_app()) as http, TestClient(agno_app()) as agno:
        for origin in (*AGNO_ORIGINS, "https://evil.example"):
            ours, theirs = preflight(http, origin), preflight(agno, origin)
            assert ours.status_code == theirs.status_code
            allowed = ours.headers.get("access-control-allow-origin")
            assert allowed == theirs.headers.get("access-control-allow-origin")
            assert allowed == (origin if origin in AGNO_ORIGINS else None)
        assert preflight(http, "https://os.agno.com").headers["access-control-allow-credentials"] == "true"
    with TestClient(kern_os(db, cors_allowed_origins=["https://ui.example"]).get_app()) as http:
        assert (
            preflight(http, "https://ui.example").headers["access-control-allow-origin"]
            == "https://ui.example"
        )
        assert "access-control-allow-origin" not in preflight(http, "https://os.agno.com").headers


def base_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def own_health() -> dict[str, str]:
        return {"mine": "yes"}

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


@pytest.mark.parametrize("policy", ["preserve_agentos", "preserve_base_app", "error"])
def test_a_base_app_keeps_its_routes(tmp_path: Any, policy: str) -> None:
    agent_os = kern_os(SqliteDb(tmp_path / "kern.db"), base_app=base_app(), on_route_conflict=policy)
    if policy == "error":
        with pytest.raises(ValueError, match="/health"):
            agent_os.get_app()
        return
    with TestClient(agent_os.get_app()) as http:
        assert http.get("/hello").json() == {"hello": "world"}
        assert http.get("/agents/writer").json()["name"] == "Writer"
        health = http.get("/health").json()
        assert (health == {"mine": "yes"}) is (policy == "preserve_base_app")


def test_the_lifespan_runs_and_gets_the_agent_os(tmp_path: Any) -> None:
    seen: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI, agent_os: AgentOS) -> AsyncIterator[None]:
        seen.append(agent_os)
        yield
        seen.append("stopped")

    agent_os = kern_os(SqliteDb(tmp_path / "kern.db"), lifespan=lifespan, base_app=base_app())
    with TestClient(agent_os.get_app()) as http:
        assert seen == [agent_os] and http.get("/hello").status_code == 200
    assert seen == [agent_os, "stopped"]
