"""A dead actor ends the run with an error event, never a hang, and the next run recreates it."""

from __future__ import annotations

import threading

import pytest
import ray

from actors.runtime import NAMESPACE
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import RunStatus
from kern.run.team import TeamRunEvent
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def kill(name: str) -> None:
    ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)


def fragile_team(server: ModelServer) -> Team:
    members = [Agent(name="Fragile Writer", model=model(server, tokens_per_second=50, reply_words=100))]
    return Team(name="Fragile Team", members=members, model=model(server))


def test_member_actor_killed_mid_stream_the_leader_carries_on(server: ModelServer) -> None:
    team = fragile_team(server)
    events = []
    killer: threading.Thread | None = None
    for event in team.run("Write", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and killer is None:
            killer = threading.Thread(target=kill, args=("kern:agent:fragile-writer",))
            killer.start()
    final = events[-1]
    assert final.event == TeamRunEvent.run_completed, names(events)
    tool_done = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert tool_done.content.startswith("Fragile Writer failed: the member's stream broke: ActorDiedError")
    # The member's run still ends in the stream, before the team's: the leader's stand-in RunError.
    assert_one_terminal_last(events, final.run_id)
    lost = next(e for e in events if e.event == RunEvent.run_error)
    assert lost.error_type == "MemberLost" and "ActorDiedError" in lost.content
    # The next run recreates the member's actor by name.
    again = team.run("Write again")
    assert [m.status for m in again.member_responses] == [RunStatus.completed], (
        again.status,
        again.content,
        getattr(again, "error", None),
    )


def test_team_actor_killed_mid_stream_ends_with_team_run_error(server: ModelServer) -> None:
    team = fragile_team(server)
    events = []
    killed = False
    for event in team.run("Write", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and not killed:
            kill("kern:team:fragile-team")
            killed = True
    final = events[-1]
    assert final.event == TeamRunEvent.run_error and final.error_type == "ActorLost"
    assert "Lost the run's actor 'fragile-team'" in final.content
    assert "\n" not in final.content, "one line: no traceback"
    for internal in ("Traceback", "pid=", "ip=", "actor_id", ".py"):
        assert internal not in final.content, final.content
    assert final.run_id == events[0].run_id
    assert team.run("Write again").status is RunStatus.completed, "a new team actor serves the next run"
    assert_one_terminal_last([e for e in events if e.run_id == final.run_id], final.run_id)


def test_agent_actor_killed_during_a_non_streaming_run_returns_an_error_record(server: ModelServer) -> None:
    agent = Agent(name="Fragile Soloist", model=model(server, first_token_delay=30))
    agent.actor()
    killer = threading.Timer(1.0, kill, args=("kern:agent:fragile-soloist",))
    killer.start()
    output = agent.run("Think")
    killer.join()
    assert output.status is RunStatus.error
    assert output.error.startswith("Lost the run's actor 'fragile-soloist'")
    assert Agent(name="Fragile Soloist", model=model(server)).run("Again").status is RunStatus.completed
