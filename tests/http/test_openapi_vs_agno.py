"""kern's AgentOS against Agno 3.1.10's, route by route, from their OpenAPI documents: every parameter,
request field and answer field Agno's routes offer (health, config, agents, teams, runs, sessions) is
offered by kern's too, with the same JSON type, or is listed in docs/agentos-differences.md with its
reason. The list is exact: a row that no longer matches a difference fails the test too."""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.http.openapi_shapes import differences, routes

DIFFERENCES = Path(__file__).resolve().parents[2] / "docs" / "agentos-differences.md"
COMPARED = ("/health", "/config", "/agents", "/teams", "/sessions")
"""The routes AgentOS clients use most; Agno's other routes (memories, knowledge, evals, traces...) serve
features kern does not have."""
ROW = re.compile(
    r"^\| `(?P<method>[A-Z*]+) (?P<path>[^`]+)` \| `(?P<key>(?:route|status|param:|body:|response:)[^`]*)` \|"
)


def listed() -> list[tuple[str, str, str]]:
    """(METHOD, path pattern, key pattern) of each row of the differences table."""
    rows = []
    for line in DIFFERENCES.read_text().splitlines():
        if match := ROW.match(line):
            rows.append((match["method"], match["path"], match["key"]))
    return rows


def documents(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI documents of the same agent and team served by Agno's AgentOS and by kern's."""
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from agno.agent import Agent as AgnoAgent
    from agno.db.in_memory import InMemoryDb
    from agno.models.openai import OpenAIResponses as AgnoResponses
    from agno.os import AgentOS as AgnoOS
    from agno.team import Team as AgnoTeam

    from kern.agent import Agent
    from kern.db import SqliteDb
    from kern.models.openai import OpenAIResponses
    from kern.os import AgentOS
    from kern.team import Team

    def build(agent: Any, team: Any, model: Any, agent_os: Any, db: Any) -> dict[str, Any]:
        writer = agent(name="Writer", id="writer", model=model(id="gpt-test", api_key="k"))
        member = agent(name="Editor", id="editor", model=model(id="gpt-test", api_key="k"))
        desk = team(name="Desk", id="desk", members=[member], model=model(id="gpt-test", api_key="k"))
        app = agent_os(agents=[writer], teams=[desk], db=db).get_app()
        with warnings.catch_warnings():  # (Agno's document repeats an operation id: FastAPI warns)
            warnings.simplefilter("ignore", UserWarning)
            document: dict[str, Any] = app.openapi()
        return document

    agno = build(AgnoAgent, AgnoTeam, AgnoResponses, AgnoOS, InMemoryDb())
    kern = build(Agent, Team, OpenAIResponses, AgentOS, SqliteDb(db_file=str(tmp_path / "kern.db")))
    return agno, kern


def test_every_difference_from_agnos_agentos_is_listed_with_its_reason(tmp_path: Path) -> None:
    agno, kern = documents(tmp_path)
    rows = listed()
    used: set[tuple[str, str, str]] = set()
    unlisted = []
    for method, path in routes(agno):
        if not path.startswith(COMPARED):
            continue
        for key, what in differences(agno, kern, method, path):
            row = next(
                (r for r in rows if fnmatch.fnmatchcase(method, r[0]) and fnmatch.fnmatchcase(path, r[1])
                 and fnmatch.fnmatchcase(key, r[2])),
                None,
            )  # fmt: skip
            if row is None:
                unlisted.append(f"{method} {path} {key}: {what}")
            else:
                used.add(row)
    assert not unlisted, "differences not in docs/agentos-differences.md:\n" + "\n".join(unlisted)
    stale = [row for row in rows if row not in used]
    assert not stale, f"rows of docs/agentos-differences.md that match no difference: {stale}"


@pytest.mark.parametrize(
    "route", [("GET", "/health"), ("GET", "/sessions"), ("POST", "/agents/{agent_id}/runs")]
)
def test_the_comparison_sees_fields(tmp_path: Path, route: tuple[str, str]) -> None:
    """The comparison is not vacuous: Agno's document has fields on the routes compared."""
    from tests.http.openapi_shapes import shape

    agno, _ = documents(tmp_path)
    seen = shape(agno, *route)
    assert seen.response or seen.body
