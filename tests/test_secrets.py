"""Secrets (API keys, database passwords) never show in repr/str or in what kern prints."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import ray

import kern.demo
from kern.agent import Agent
from kern.db.url import DB_URL_VARIABLE, mask_password
from kern.models.openai import OpenAIChat, OpenAIResponses
from kern.models.openai.client import OpenAIModel
from kern.specs import AgentSpec, TeamSpec
from kern.team import Team

KEY = "sk-secret-4f9a2c"
PG_URL = "postgresql://kern:hunter2@host:5432/db"


@pytest.mark.parametrize("cls", [OpenAIChat, OpenAIResponses])
def test_model_repr_and_str_hide_the_key_but_pickling_keeps_it(cls: type[OpenAIModel]) -> None:
    m = cls(id="gpt-test", api_key=KEY)
    assert KEY not in repr(m) and KEY not in str(m)
    assert m.api_key == KEY and pickle.loads(pickle.dumps(m)).api_key == KEY


def test_agent_and_team_specs_hide_the_key() -> None:
    agent = Agent(name="Writer", model=OpenAIChat(id="gpt-test", api_key=KEY))
    team = Team(name="Crew", members=[agent], model=OpenAIResponses(id="gpt-test", api_key=KEY))
    for shown in (repr(agent.spec), str(agent.spec), repr(team.spec), str(team.spec)):
        assert KEY not in shown and "gpt-test" in shown


def test_mask_password() -> None:
    assert mask_password(PG_URL) == "postgresql://kern:***@host:5432/db"
    assert mask_password("sqlite:///x.db") == "sqlite:///x.db"
    assert mask_password("postgresql://kern@host/db") == "postgresql://kern@host/db"
    assert "hunter2" not in mask_password("postgresql://kern:hunter2@host:notaport/db")


class _Stop(Exception):
    """Stops `run_demo` right after it prints where runs are stored, before Ray starts."""


def test_demo_prints_the_db_url_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def stop() -> None:
        raise _Stop

    example = tmp_path / "example.py"
    example.write_text("")
    monkeypatch.setenv(DB_URL_VARIABLE, PG_URL)
    monkeypatch.setattr(kern.demo, "local_model_unless_api_key", lambda prefix: None)
    monkeypatch.setattr(kern.demo, "ensure_ray", stop)
    with pytest.raises(_Stop):
        kern.demo.run_demo(example)
    out = capsys.readouterr().out
    assert "Runs are stored in postgresql://kern:***@host:5432/db" in out and "hunter2" not in out
    assert os.environ[DB_URL_VARIABLE] == PG_URL


@pytest.mark.usefixtures("ray_session")
def test_the_key_still_travels_to_ray_workers() -> None:
    """Specs reach actors the same way (the model server doesn't record `authorization` to check it there)."""
    spec = Agent(name="KeyHolder", model=OpenAIChat(id="gpt-test", api_key=KEY)).spec

    @ray.remote
    def key_in_worker(spec: AgentSpec | TeamSpec) -> str | None:
        assert isinstance(spec.model, OpenAIModel)
        return spec.model.api_key

    assert ray.get(key_in_worker.remote(spec)) == KEY
