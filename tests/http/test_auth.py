"""`OS_SECURITY_KEY`: with it, every route but /health wants `Authorization: Bearer <key>` (AgentOS's
basic authentication). In process through the ASGI app for the rules, and one real `kern serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from kern.agent import Agent
from kern.model_server import ModelServer
from kern.os import AgentOS
from kern.os.auth import INVALID, MISSING, SECURITY_KEY_VARIABLE, exposure_warning
from kern.team import Team
from tests.http.conftest import app_env, start_server, stop_servers, wait_healthy

KEY = "s3cret-key-0123"


def client(monkeypatch: pytest.MonkeyPatch, key: str | None) -> TestClient:
    if key is None:
        monkeypatch.delenv(SECURITY_KEY_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SECURITY_KEY_VARIABLE, key)
    writer = Agent(name="Guarded Writer")
    return TestClient(AgentOS(agents=[writer], teams=[Team(name="Guarded Team", members=[writer])]).get_app())


GUARDED = [
    ("GET", "/config"),
    ("GET", "/agents"),
    ("GET", "/teams/guarded-team"),
    ("POST", "/teams/guarded-team/runs/some-run/cancel"),
    ("POST", "/agents/guarded-writer/runs"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions/some-session"),
]


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_with_a_key_every_route_wants_it(monkeypatch: pytest.MonkeyPatch, method: str, path: str) -> None:
    http = client(monkeypatch, KEY)
    missing = http.request(method, path)
    assert (missing.status_code, missing.json()) == (401, {"detail": MISSING})
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = http.request(method, path, headers={"Authorization": "Bearer not-the-key"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": INVALID})
    basic = http.request(method, path, headers={"Authorization": f"Basic {KEY}"})
    assert basic.status_code == 401
    latin = http.request(method, path, headers={"Authorization": "Bearer cl\xe9".encode("latin-1")})
    assert (latin.status_code, latin.json()) == (401, {"detail": INVALID})


def test_the_key_opens_the_routes_and_health_stays_open(monkeypatch: pytest.MonkeyPatch) -> None:
    http = client(monkeypatch, KEY)
    assert http.get("/health").status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert http.get("/agents", headers=bearer).json()[0]["id"] == "guarded-writer"
    assert http.get("/config", headers=bearer).status_code == 200
    schema = http.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in schema["paths"]["/teams/{team_id}/runs/{run_id}/cancel"]["post"]["responses"]


def test_without_a_key_the_routes_are_open(monkeypatch: pytest.MonkeyPatch) -> None:
    http = client(monkeypatch, None)
    assert http.get("/agents").status_code == 200
    assert http.get("/config").status_code == 200
    schema = http.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {}), "the document says what the server does"
    assert "401" not in schema["paths"]["/config"]["get"]["responses"]


def test_serving_beyond_loopback_without_a_key_is_warned_about() -> None:
    assert exposure_warning("127.0.0.1", None) is None
    assert exposure_warning("0.0.0.0", "k") is None
    warning = exposure_warning("0.0.0.0", None)
    assert warning is not None and SECURITY_KEY_VARIABLE in warning


@pytest.fixture
def guarded_server(ray_session: None, model_server: ModelServer, tmp_path: Path) -> Iterator[str]:
    env = app_env(model_server, tmp_path, **{SECURITY_KEY_VARIABLE: "serve-key"})
    server = start_server(env, tmp_path / "serve.log")
    try:
        wait_healthy(server)
        yield server.url
    finally:
        stop_servers(server)
        assert "serve-key" not in server.log.read_text(errors="replace"), "the key is never logged"


def test_kern_serve_with_a_key_refuses_a_cancel_without_it(guarded_server: str) -> None:
    cancel = f"{guarded_server}/teams/storytelling-team/runs/unknown-run/cancel"
    assert httpx.post(cancel, timeout=30).status_code == 401
    answer = httpx.post(cancel, headers={"Authorization": "Bearer serve-key"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["cancelled"] is False
