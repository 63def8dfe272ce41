"""`print_response` on Agno 3.1.10 and on kern, same script, same model server: the same panels in the
same order with the same text (the response's time aside)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern

WIDTH = 100
TITLE = re.compile(r"^┏━ (.*?) ━+┓$")
BODY = re.compile(r"^┃ (.*?) *┃$")


def word_count(text: str) -> str:
    """Count the words of a text.

    Args:
        text: The text.
    """
    return f"{len(text.split())} words"


def writer(fw: Framework, server: ModelServer, **options: Any) -> Any:
    # The model server fills free-string tool arguments with "example": Agno's member_id is one.
    return fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=12), **options)


def desk(fw: Framework, server: ModelServer) -> Any:
    return fw.Team(
        name="Desk", members=[writer(fw, server)], model=fw.model(server), show_members_responses=True
    )


CASES: dict[str, tuple[Callable[[Framework, ModelServer], Any], dict[str, Any]]] = {
    "agent": (writer, {}),
    "agent, streaming": (writer, {"stream": True}),
    "agent with a tool": (lambda fw, s: writer(fw, s, tools=[word_count]), {}),
    "agent with a tool, streaming": (lambda fw, s: writer(fw, s, tools=[word_count]), {"stream": True}),
    "agent, markdown": (writer, {"markdown": True}),
    "agent, no message": (writer, {"show_message": False}),
    "team with its members' responses": (desk, {}),
    "team with its members' responses, streaming": (desk, {"stream": True}),
}


def printed(fw: Framework, server: ModelServer, case: str) -> list[tuple[str, list[str]]]:
    """(title, text lines) of each panel `print_response` printed, times left out of titles."""
    make, options = CASES[case]
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, color_system=None, force_terminal=False)
    make(fw, server).print_response("Write a short story", console=console, **options)
    panels: list[tuple[str, list[str]]] = []
    for line in out.getvalue().splitlines():
        if title := TITLE.match(line):
            panels.append((re.sub(r" \(\d+\.\ds\)", "", title.group(1)), []))
        elif (body := BODY.match(line)) and body.group(1).strip():
            panels[-1][1].append(body.group(1).rstrip())
    return panels


@pytest.mark.parametrize("case", list(CASES))
def test_print_response_shows_what_agno_shows(ray_session: None, server: ModelServer, case: str) -> None:
    expected = printed(agno(), server, case)
    assert expected, "Agno printed panels"
    assert printed(kern(), server, case) == expected
