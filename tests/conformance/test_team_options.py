"""Team options on Agno 3.1.10 and on kern, the same script on both: what each member is given (its
input, as the model server records it), what the team answers, its member responses, how often the
leader's model is called.

The model server's leader delegates once per run, always; where an option shows only with a leader that
delegates twice or writes its own task (`share_member_interactions`, `determine_input_for_members`, an
unknown member id), kern's leader plays a script (`ScriptedModel`) and what its members get is compared
with what Agno's own functions make of the same run."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from kern.model_server import ModelServer
from kern.models.scripted import ScriptedModel, Text, delegate
from tests.conformance.frameworks import Framework, agno, kern, system_message_of

CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "coordinate": ({}, ("Write",)),
    "route": ({"mode": "route"}, ("Write",)),
    "broadcast": ({"mode": "broadcast"}, ("Write",)),
    "team history to members": (
        {"add_team_history_to_members": True, "num_team_history_runs": 1},
        ("One", "Two", "Three"),
    ),
    "the input as is, resolved": ({"determine_input_for_members": False}, ("Write about {topic}",)),
}


def db_of(fw: Framework, folder: Path) -> Any:
    if fw.name == "agno":
        from agno.db.in_memory import InMemoryDb

        return InMemoryDb()
    from kern.db import SqliteDb

    return SqliteDb(db_file=str(folder / "kern.db"))


def members(fw: Framework, server: ModelServer) -> list[Any]:
    """The model server's leader delegates to "example"."""
    return [
        fw.Agent(name="Writer", id="example", description="Writes.", model=fw.model(server, reply_words=3)),
        fw.Agent(name="Editor", description="Edits.", model=fw.model(server, reply_words=5)),
    ]


def member_inputs(server: ModelServer) -> list[tuple[str, str]]:
    """(member's system message, its input) of each member run's first model request."""
    found = []
    for request in server.requests:
        body = request.body
        assert isinstance(body, dict)
        system, last = system_message_of(body), body["input"][-1]
        if "<team_members>" not in system and last.get("role") == "user":
            found.append((system, last["content"]))
    return found


def script(fw: Framework, server: ModelServer, db: Any, case: str) -> list[dict[str, Any]]:
    options, inputs = dict(CASES[case][0]), CASES[case][1]
    if "mode" in options:
        options["mode"] = import_module(f"{fw.name}.team").TeamMode(options["mode"])
    team = fw.Team(
        name="Desk", members=members(fw, server), model=fw.model(server, reply_words=4), db=db,
        session_state={"topic": "dragons"}, **options,
    )  # fmt: skip
    seen = []
    for text in inputs:
        server.clear_requests()
        output = team.run(text)
        seen.append({
            "member inputs": member_inputs(server),
            # Its words: kern puts a blank line between broadcast answers, Agno nothing.
            "answer": "".join(output.content.split()),
            "members": sorted(
                (m.agent_id, m.content, m.status.value, m.parent_run_id == output.run_id)
                for m in output.member_responses
            ),
            "leader calls": sum("<team_members>" in system_message_of(r.body) for r in server.requests),
        })  # fmt: skip
    return seen


@pytest.mark.parametrize("case", list(CASES))
def test_members_get_and_the_team_answers_what_agno_does(
    ray_session: None, server: ModelServer, tmp_path: Path, case: str
) -> None:
    expected = script(agno(), server, db_of(agno(), tmp_path), case)
    assert all(run["member inputs"] and run["answer"] for run in expected)
    assert script(kern(), server, db_of(kern(), tmp_path), case) == expected


def scripted_team(server: ModelServer, replies: list[list[Any]], **options: Any) -> Any:
    """A kern team whose leader plays `replies`; its members answer from the model server."""
    from kern.team import Team

    return Team(name="Desk", members=members(kern(), server), model=ScriptedModel(replies=replies), **options)


def test_a_member_sees_earlier_interactions_as_agno_shows_them(
    ray_session: None, server: ModelServer
) -> None:
    from agno.run.agent import RunOutput
    from agno.utils.team import format_member_agent_task, get_team_member_interactions_str

    replies = [[delegate("example", "First")], [delegate("editor", "Second")], [Text(text="Done.")]]
    output = scripted_team(server, replies, share_member_interactions=True).run("Write")
    first = output.member_responses[0]
    context = {"member_responses": [{"member_name": "Writer", "task": "First",
                                     "run_response": RunOutput(content=first.content)}]}  # fmt: skip
    interactions = get_team_member_interactions_str(team_run_context=context)
    second = format_member_agent_task("Second", team_member_interactions_str=interactions)
    assert [text for _, text in member_inputs(server)] == ["First", second]


def test_members_get_the_teams_input_not_the_leaders_task(ray_session: None, server: ModelServer) -> None:
    replies = [[delegate("example", "A task the leader wrote")], [Text(text="Done.")]]
    scripted_team(server, replies, determine_input_for_members=False).run("Write about {topic}")
    assert [text for _, text in member_inputs(server)] == ["Write about {topic}"]


def test_an_unknown_member_is_answered_as_agno_answers(ray_session: None, server: ModelServer) -> None:
    replies = [[delegate("nobody", "x")], [Text(text="Done.")]]
    output = scripted_team(server, replies).run("Write")
    roster = agno().Team(name="Desk", members=members(agno(), server)).get_members_system_message_content()
    assert output.tools[0].result == (
        "Member with ID nobody not found in the team or any subteams. Please choose the correct member from "
        f"the list of members:\n\n{roster}"
    )
    assert not output.member_responses and not member_inputs(server)


def test_a_member_built_without_a_model_uses_the_teams(ray_session: None, server: ModelServer) -> None:
    def script(fw: Framework) -> tuple[Any, ...]:
        server.clear_requests()
        writer = fw.Agent(id="example", name="Writer")
        team = fw.Team(name="Desk", members=[writer], model=fw.model(server, reply_words=3))
        output = team.run("Write")
        return output.status, [m.status for m in output.member_responses], len(server.requests)

    expected = script(agno())
    assert expected[1] == ["COMPLETED"]
    assert script(kern()) == expected
