"""The system message an agent sends its model, on Agno 3.1.10 and on kern, for the same options: the
model server records both requests, and the texts must be the same (the current time aside)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern, system_message_of

CASES: dict[str, dict[str, Any]] = {
    "description and instructions": {"description": "You write stories.", "instructions": "Be brief."},
    "a list of instructions": {"instructions": ["Be brief.", "Use short words.", "End well."]},
    "instruction tags": {"instructions": ["Be brief.", "End well."], "use_instruction_tags": True},
    "role, expected output, context": {
        "role": "Storyteller",
        "expected_output": "  A story of three lines.  ",
        "additional_context": "The reader is five.",
    },
    "markdown, name": {"markdown": True, "add_name_to_context": True, "description": "Writes."},
    "date and time": {"add_datetime_to_context": True, "timezone_identifier": "Europe/Paris"},
    "date, formatted": {"add_datetime_to_context": True, "datetime_format": "%Y-%m-%d"},
    "a system message of its own": {"system_message": "You are terse.", "description": "ignored"},
    "instructions from a callable": {"instructions": lambda agent: [f"You are {agent.name}.", "Be brief."]},
}
NOW = re.compile(r"The current time is [^\n]*\.")


def system_text(server: ModelServer, fw: Framework, options: dict[str, Any]) -> str:
    server.clear_requests()
    fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=3), **options).run("Hi")
    text = system_message_of(server.requests[-1].body)
    return NOW.sub("The current time is <now>.", text)


@pytest.mark.parametrize("case", list(CASES))
def test_the_system_message_is_agnos(ray_session: None, server: ModelServer, case: str) -> None:
    expected = system_text(server, agno(), CASES[case])
    assert expected
    assert system_text(server, kern(), CASES[case]) == expected


def test_an_agno_option_kern_lacks_is_refused_by_name() -> None:
    from kern.agent import Agent
    from kern.team import Team

    with pytest.raises(NotImplementedError, match=r"Agent\(knowledge=\.\.\.\) is an Agno 3.1.10 option"):
        Agent(name="Reader", knowledge=object())
    with pytest.raises(NotImplementedError, match=r"Team\(memory_manager=\.\.\.\)"):
        Team(members=[Agent(name="W")], memory_manager=object())
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Agent(name="W", colour="blue")
