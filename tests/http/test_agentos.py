"""`AgentOS` and `kern serve` without a server: ids, the shared db, loading `module:attr`."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kern.agent import Agent
from kern.db import SqliteDb
from kern.models.openai import OpenAIResponses
from kern.os import AgentOS
from kern.os.serve import load_os
from kern.team import Team
from tests.http.conftest import KernServer, free_port, stop_servers, wait_healthy


def agent(name: str, db: SqliteDb | None = None) -> Agent:
    return Agent(name=name, model=OpenAIResponses(id="gpt-test"), db=db)


def test_ids_are_slugs_and_must_be_distinct() -> None:
    team = Team(name="Storytelling Team", members=[agent("Storyteller")])
    agent_os = AgentOS(agents=[agent("My Writer")], teams=[team])
    assert list(agent_os.agents) == ["my-writer"] and list(agent_os.teams) == ["storytelling-team"]
    assert agent_os.db is None
    with pytest.raises(ValueError, match=r"repeated: \['my-writer'\]"):
        AgentOS(agents=[agent("My Writer"), agent("my writer")])
    with pytest.raises(TypeError, match="must be Team objects"):
        AgentOS(teams=[agent("Solo")])  # type: ignore[list-item]
    with pytest.raises(LookupError, match="agent 'nobody' not found"):
        agent_os.get("agent", "nobody")


def test_the_db_goes_to_components_without_one(tmp_path: Path) -> None:
    shared, own = SqliteDb(tmp_path / "shared.db"), SqliteDb(tmp_path / "own.db")
    member, keeper = agent("Member"), agent("Keeper", db=own)
    team = Team(name="Team", members=[member, keeper])
    agent_os = AgentOS(agents=[agent("Solo")], teams=[team], db=shared)
    assert agent_os.db is shared
    assert agent_os.agents["solo"].spec.db is shared and team.spec.db is shared
    assert [m.db for m in team.spec.members] == [shared, own]
    assert AgentOS(agents=[keeper]).db is own  # no db given: the first component db


@pytest.fixture
def app_module() -> Iterator[str]:
    module = types.ModuleType("kern_test_served_app")
    module.agent_os = AgentOS(agents=[agent("Solo")])  # type: ignore[attr-defined]
    module.make = lambda: AgentOS(agents=[agent("Made")])  # type: ignore[attr-defined]
    module.needs_args = lambda name: AgentOS()  # type: ignore[attr-defined]
    module.other = 42  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


def test_load_os_takes_an_agentos_or_a_factory(app_module: str) -> None:
    assert list(load_os(f"{app_module}:agent_os").agents) == ["solo"]
    assert list(load_os(f"{app_module}:make").agents) == ["made"]
    for target, message in [
        ("no_such_module_here:x", "cannot import 'no_such_module_here'"),
        (f"{app_module}:missing", "has no attribute 'missing'"),
        (f"{app_module}:other", "is a int, not an AgentOS"),
        (f"{app_module}:needs_args", "taking no arguments"),
        (app_module, "expected module:attr"),
    ]:
        with pytest.raises(SystemExit, match=message):
            load_os(target)


SERVED_SCRIPT = """
import subprocess
import sys
from kern.agent import Agent
from kern.os import AgentOS

agent_os = AgentOS(name="Scripted", agents=[Agent(name="Writer")])
app = agent_os.get_app()
agent_os.serve(app=app, port=int(sys.argv[1]))
"""


def test_serve_runs_the_app_as_agnos_does(tmp_path: Path) -> None:
    """`agent_os.serve(app=..., port=...)` in a script, as Agno's examples end: the app answers."""
    script, port, log = tmp_path / "served.py", free_port(), tmp_path / "served.log"
    script.write_text(SERVED_SCRIPT)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script), str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    server = KernServer(process, port, log)
    try:
        wait_healthy(server)
        assert httpx.get(f"{server.url}/config", timeout=10).json()["name"] == "Scripted"
    finally:
        stop_servers(server)
