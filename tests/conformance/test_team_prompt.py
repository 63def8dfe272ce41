"""A team leader's system message and tools on Agno 3.1.10 and on kern, for the same team: the model
server records each leader's first request, and both must say the same (the current time aside, and the
`enum` of member ids kern adds to `member_id`: docs/agno-differences.md). The run goes on to its answer,
which must be the same too."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern, system_message_of

CASES: dict[str, dict[str, Any]] = {
    "coordinate": {},
    "route": {"mode": "route"},
    "broadcast": {"mode": "broadcast"},
    "tasks": {"mode": "tasks", "max_iterations": 2, "get_member_information_tool": True},
    "the flags of route and broadcast": {"respond_directly": True, "delegate_to_all_members": True},
    "identity, additional information, expected output, context": {
        "description": "The story desk.",
        "role": "Leads the desk",
        "instructions": ["Be brief.", "Be kind."],
        "markdown": True,
        "add_name_to_context": True,
        "expected_output": " One story. ",
        "additional_context": " Readers are five. ",
        "use_instruction_tags": True,
    },
    "date and time": {"add_datetime_to_context": True, "timezone_identifier": "Europe/Paris"},
    "member tools, a sub-team, the member information tool": {
        "add_member_tools_to_context": True,
        "get_member_information_tool": True,
        "sub_team": True,
    },
    "members get the input as is": {"determine_input_for_members": False, "instructions": "One {topic}."},
    "members share interactions": {"share_member_interactions": True, "mode": "route"},
    "session state and placeholders": {
        "add_session_state_to_context": True,
        "description": "Stories about {topic}.",
        "expected_output": "A {topic} story.",
    },
    "a system message of its own": {"system_message": "You lead the {topic} desk.", "description": "unused"},
}
NOW = re.compile(r"The current time is [^\n]*\.")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def lookup(x: int) -> str:
    """Look a number up.

    Args:
        x: The number.
    """
    return f"{x} found"


def build_team(fw: Framework, server: ModelServer, options: dict[str, Any]) -> Any:
    """Two agents (the first is the one the model server picks: id "example"), a sub-team if asked."""
    options = dict(options)
    model = fw.model(server, reply_words=3)
    members = [
        fw.Agent(name="Writer", id="example", role="Writes stories", description="A writer.", model=model,
                 tools=[lookup]),
        fw.Agent(name="Story Editor", model=model),
    ]  # fmt: skip
    if options.pop("sub_team", False):
        inner = [fw.Agent(name="Fact Checker", role="Checks", model=model, tools=[lookup])]
        members.append(fw.Team(name="Review Desk", description="Reviews.", members=inner, model=model))
    if "mode" in options:
        options["mode"] = import_module(f"{fw.name}.team").TeamMode(options["mode"])
    leader = fw.model(server, reply_words=4)
    return fw.Team(name="Desk", members=members, model=leader, session_state={"topic": "dragons"}, **options)


def leader_sees(server: ModelServer, fw: Framework, options: dict[str, Any]) -> dict[str, Any]:
    """The leader's system message (ids and time left out) and tools (name, description, parameters) in
    its first request, and the run's answer (its words: kern puts a blank line between broadcast answers,
    Agno nothing)."""
    server.clear_requests()
    output = build_team(fw, server, options).run("Write")
    body = server.requests[0].body
    assert isinstance(body, dict)
    tools = [(t["name"], t.get("description", ""), without_enum(t["parameters"])) for t in body["tools"]]
    system = UUID.sub("<id>", NOW.sub("The current time is <now>.", system_message_of(body)))
    return {"system": system, "tools": tools, "answer": "".join(output.content.split())}


def without_enum(parameters: dict[str, Any]) -> dict[str, Any]:
    """The parameters without the `enum` of member ids kern adds."""
    properties = {
        name: {key: value for key, value in schema.items() if key != "enum"}
        for name, schema in parameters.get("properties", {}).items()
    }
    return {**parameters, "properties": properties}


@pytest.mark.parametrize("case", list(CASES))
def test_the_leader_is_told_what_agno_tells_it(ray_session: None, server: ModelServer, case: str) -> None:
    expected = leader_sees(server, agno(), CASES[case])
    assert expected["system"] and expected["tools"] and expected["answer"]
    assert leader_sees(server, kern(), CASES[case]) == expected


def test_kern_names_the_members_in_an_enum(ray_session: None, server: ModelServer) -> None:
    build_team(kern(), server, {}).run("Write")
    member_id = server.requests[0].body["tools"][0]["parameters"]["properties"]["member_id"]
    assert member_id["enum"] == ["example", "story-editor"]
