"""`kern serve` without a target: the seed's Storytelling Team on the bundled model server.

Read-only here: the demo's actors would have the same names as those of `tests.http.app` (the seed's
ids), so runs are left to the other modules' servers.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.http.conftest import KernServer, server_env, start_server, stop_servers, wait_healthy


@pytest.fixture(scope="module")
def demo(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernServer]:
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in server_env().items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    server = start_server(env, folder / "serve.log", target=None, cwd=folder)
    try:
        wait_healthy(server)
        yield server
    finally:
        stop_servers(server)


def test_demo_serves_the_seed_team_on_the_local_model(demo: KernServer) -> None:
    config = httpx.get(f"{demo.url}/config", timeout=10).json()
    assert [(t["id"], t["name"]) for t in config["teams"]] == [("storytelling-team", "Storytelling Team")]
    assert config["databases"] == [config["teams"][0]["db_id"]]
    team = httpx.get(f"{demo.url}/teams/storytelling-team", timeout=10).json()
    assert team["model"]["model"] == "gpt-5.2"
    assert team["description"] == "A team that collaborates to write detailed stories"
    assert [m["name"] for m in team["members"]] == ["StorytellerAgent", "EditorAgent"]
    storyteller = httpx.get(f"{demo.url}/agents/storytelleragent", timeout=10).json()
    assert storyteller["description"] == "An agent that writes creative stories"
    # KERN_DB_URL defaults to sqlite:///kern.db in the current directory.
    assert httpx.get(f"{demo.url}/sessions", timeout=10).json()["data"] == []
    assert (demo.log.parent / "kern.db").is_file()
    log = demo.log.read_text()
    assert "No OPENAI_API_KEY: using the bundled model server" in log
    assert f"kern AgentOS at http://127.0.0.1:{demo.port}" in log
