"""`Team(mode=TeamMode.*)` on Agno 3.1.10 and on kern: the same answer for each mode."""

from __future__ import annotations

from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern


def team_mode(fw: Framework) -> Any:
    from importlib import import_module

    return import_module(f"{fw.name}.team").TeamMode


def answer(fw: Framework, server: ModelServer, mode: str) -> tuple[str, list[str]]:
    writer = fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=6))
    mode_ = team_mode(fw)(mode)
    team = fw.Team(name="Desk", members=[writer], model=fw.model(server, reply_words=6), mode=mode_)
    output = team.run("Write")
    return output.content, [str(m.status.value) for m in output.member_responses or []]


@pytest.mark.parametrize("mode", ["coordinate", "route", "broadcast", "tasks"])
def test_each_team_mode_answers_as_on_agno(ray_session: None, server: ModelServer, mode: str) -> None:
    expected = answer(agno(), server, mode)
    assert expected[0]
    assert answer(kern(), server, mode)[0] == expected[0]


def test_modes_that_are_not_there_are_refused_clearly() -> None:
    from kern.agent import Agent
    from kern.team import Team

    choose = "not a team mode; choose one of coordinate, route, broadcast, tasks"
    with pytest.raises(ValueError, match=choose):
        Team(members=[Agent(name="W")], mode="committee")
    routed = Team(members=[Agent(name="W")], mode="route", delegate_to_all_members=True)
    assert routed.spec.respond_directly and not routed.spec.delegate_to_all_members, "the mode wins"
    both = Team(members=[Agent(name="W")], respond_directly=True, delegate_to_all_members=True)
    assert both.spec.mode == "broadcast" and not both.spec.respond_directly, "broadcast wins, as in Agno"
