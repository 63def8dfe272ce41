"""Teams on Ray actors: modes, nested teams, member events in the team stream, cancellation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import ray

from kern.agent import Agent
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import RunStatus
from kern.run.events import is_terminal
from kern.run.team import TeamRunEvent, TeamRunOutput
from kern.specs import new_id
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


def make_team(
    server: ModelServer,
    *,
    member_speed: float = 2000,
    leader_speed: float = 2000,
    member_words: int = 30,
    **options,
) -> Team:
    speed = {"tokens_per_second": member_speed, "reply_words": member_words}
    members = [
        Agent(name="Storyteller", model=model(server, **speed), description="Writes stories"),
        Agent(name="Editor", model=model(server, "chat", **speed), description="Edits"),
    ]
    leader = model(
        server, tokens_per_second=leader_speed, first_token_delay=options.pop("leader_delay", None)
    )
    return Team(name="Story Team", members=members, model=leader, **options)


def test_coordinate_mode_streams_member_events_then_the_leader_answer(server: ModelServer) -> None:
    team = make_team(server)
    events = list(team.run("Write a story", stream=True))
    team_run_id = events[0].run_id
    assert names(events) == [
        "TeamRunStarted",
        "TeamToolCallStarted",
        "RunStarted",
        "RunContent",
        "RunContentCompleted",
        "RunCompleted",
        "TeamToolCallCompleted",
        "TeamRunContent",
        "TeamRunContentCompleted",
        "TeamRunCompleted",
    ]
    assert_one_terminal_last(events, team_run_id)
    member_events = [e for e in events if e.event.value.startswith("Run")]
    assert {e.agent_id for e in member_events} == {"storyteller"}
    assert {e.parent_run_id for e in member_events} == {team_run_id}
    assert len({e.run_id for e in member_events}) == 1 and member_events[0].run_id != team_run_id
    member_answer = member_events[-1].content
    assert events[-2].event == TeamRunEvent.run_content_completed
    assert events[-1].content.startswith("Based on " + " ".join(member_answer.split()[:5]))
    # The leader's tool names the members as an enum: it cannot pick one that does not exist.
    leader_request = next(r for r in server.requests if r.body.get("tools"))
    parameters = leader_request.body["tools"][0]["parameters"]
    assert parameters["properties"]["member_id"]["enum"] == ["storyteller", "editor"]
    assert set(parameters["required"]) == {"member_id", "task"}


def test_non_streaming_team_run_returns_member_responses(server: ModelServer) -> None:
    output = make_team(server).run("Write a story", session_id="team-session")
    assert isinstance(output, TeamRunOutput)
    assert output.status is RunStatus.completed and output.team_id == "story-team"
    [member] = output.member_responses
    assert (member.agent_id, member.status, member.parent_run_id) == (
        "storyteller",
        RunStatus.completed,
        output.run_id,
    )
    assert member.session_id == "team-session" and len(member.content.split()) == 30


def test_route_mode_answers_with_the_member_answer(server: ModelServer) -> None:
    team = make_team(server, respond_directly=True)
    events = list(team.run("Write a story", stream=True))
    member_done = next(e for e in events if e.event == RunEvent.run_completed)
    assert events[-1].event == TeamRunEvent.run_completed
    assert events[-1].content == member_done.content
    assert "TeamRunContent" not in names(events), "the leader's model is not asked again"
    assert len([r for r in server.requests if r.body.get("tools")]) == 1


def test_broadcast_mode_runs_all_members_in_parallel(server: ModelServer) -> None:
    team = make_team(server, member_speed=20, delegate_to_all_members=True)
    events = list(team.run("Write a story", stream=True))
    assert_one_terminal_last(events, events[0].run_id)
    assert {e.agent_id for e in events if e.event == RunEvent.run_completed} == {"storyteller", "editor"}
    leader_request = next(r for r in server.requests if r.body.get("tools"))
    assert leader_request.body["tools"][0]["name"] == "delegate_task_to_members"
    # Each member's model call takes 1.5 s; they overlapped in time, so the members worked at once.
    first, second = [r for r in server.requests if not r.body.get("tools")][:2]
    assert first.finished_at - first.started_at > 1.0
    assert second.started_at < first.finished_at and first.started_at < second.finished_at
    tool_done = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert tool_done.content.startswith("Agent Storyteller: Once upon")
    assert "\n\nAgent Editor: Once upon" in tool_done.content


def test_nested_team(server: ModelServer) -> None:
    inner = make_team(server)
    outer = Team(
        name="Studio",
        members=[inner, Agent(name="Critic", model=model(server))],
        model=model(server),
    )
    events = list(outer.run("Make a story", stream=True))
    outer_id = events[0].run_id
    assert_one_terminal_last(events, outer_id)
    inner_started = next(e for e in events if e.event == TeamRunEvent.run_started and e.run_id != outer_id)
    assert inner_started.team_id == "story-team" and inner_started.parent_run_id == outer_id
    story = next(e for e in events if e.event == RunEvent.run_started)
    assert story.agent_id == "storyteller" and story.parent_run_id == inner_started.run_id
    assert events[-1].event == TeamRunEvent.run_completed and events[-1].team_id == "studio"


def run_and_cancel(team: Team, when, run_id: str | None = None) -> tuple[list, bool | None]:
    """Stream a team run and cancel it from another thread once `when(events)` is true."""
    run_id = run_id or new_id()
    events: list = []
    outcome: dict[str, bool] = {}
    fired = threading.Event()

    def cancel() -> None:
        outcome["cancelled"] = team.cancel_run(run_id)

    for event in team.run("Write a long story", stream=True, run_id=run_id):
        events.append(event)
        if not fired.is_set() and when(events):
            fired.set()
            thread = threading.Thread(target=cancel)
            thread.start()
    if fired.is_set():
        thread.join(timeout=15)
    return events, outcome.get("cancelled")


def test_cancel_during_member_stream_shows_member_then_team_cancelled(server: ModelServer) -> None:
    team = make_team(server, member_speed=50)
    started = time.monotonic()
    events, cancelled = run_and_cancel(
        team, lambda evs: sum(e.event == RunEvent.run_content for e in evs) >= 5
    )
    assert cancelled is True
    assert time.monotonic() - started < 10
    seq = names(events)
    assert seq[-2:] == ["RunCancelled", "TeamRunCancelled"], seq
    member_cancelled = events[-2]
    assert member_cancelled.agent_id == "storyteller" and member_cancelled.parent_run_id == events[-1].run_id
    partial = "".join(e.content for e in events if e.event == RunEvent.run_content)
    assert member_cancelled.content == partial and len(partial.split()) >= 5
    assert_one_terminal_last(events, events[0].run_id)
    assert server.wait_for_disconnect(timeout=2).words_sent < 100


@pytest.mark.parametrize(
    "instant",
    ["before_leader_token", "at_delegation", "during_member", "during_leader_answer", "after_completion"],
)
def test_cancel_at_any_instant_keeps_the_event_rules(server: ModelServer, instant: str) -> None:
    team = make_team(
        server,
        member_speed=100,
        leader_speed=100,
        leader_delay=0.5 if instant == "before_leader_token" else None,
    )
    when = {
        "before_leader_token": lambda evs: len(evs) == 1,
        "at_delegation": lambda evs: evs[-1].event == TeamRunEvent.tool_call_started,
        "during_member": lambda evs: evs[-1].event == RunEvent.run_content,
        "during_leader_answer": lambda evs: evs[-1].event == TeamRunEvent.run_content,
        "after_completion": lambda evs: False,
    }[instant]
    events, cancelled = run_and_cancel(team, when)
    team_run_id = events[0].run_id
    final = assert_one_terminal_last(events, team_run_id)
    if instant == "after_completion":
        assert final.event == TeamRunEvent.run_completed
        assert team.cancel_run(team_run_id) is False
        return
    assert cancelled is True
    assert final.event == TeamRunEvent.run_cancelled and final.status is RunStatus.cancelled
    member_terminals = [e for e in events if e.run_id != team_run_id and is_terminal(e)]
    if instant in ("at_delegation", "during_member"):
        assert [e.event for e in member_terminals] in ([RunEvent.run_cancelled], [])
    if instant == "during_leader_answer":
        assert [e.event for e in member_terminals] == [RunEvent.run_completed]
        assert final.content.startswith("Based"), "the leader's partial answer is kept"


def test_cancel_member_only_lets_the_leader_carry_on(server: ModelServer) -> None:
    team = make_team(server, member_speed=50)
    events: list = []
    result: dict[str, bool] = {}
    for event in team.run("Write a story", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and "member" not in result:
            result["member"] = team.cancel_run(event.run_id)
    assert result["member"] is True
    seq = names(events)
    assert "RunCancelled" in seq and seq[-1] == "TeamRunCompleted"
    tool_done = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert "was cancelled before it finished" in tool_done.content
    assert_one_terminal_last(events, events[0].run_id)


def test_cancel_before_start_never_starts_the_team(server: ModelServer) -> None:
    team = make_team(server)
    run_id = new_id()
    assert team.cancel_run(run_id) is False
    events = list(team.run("Never", stream=True, run_id=run_id))
    assert names(events) == ["TeamRunStarted", "TeamRunCancelled"]
    assert not server.requests


def test_walking_away_from_the_team_stream_cancels_members(server: ModelServer) -> None:
    team = make_team(server, member_speed=50)
    stream = team.run("Write a story", stream=True)
    for event in stream:
        if event.event == RunEvent.run_content:
            member_run_id = event.run_id
            break
    stream.close()
    assert server.wait_for_disconnect(timeout=3).words_sent < 100
    deadline = time.monotonic() + 5
    from actors.runtime import supervisor

    while member_run_id in ray.get(supervisor().live_runs.remote(), timeout=5):
        assert time.monotonic() < deadline, "the member run is still live after the caller left"
        time.sleep(0.05)


CANCEL_SCRIPT = """
import sys
import ray
from kern.team import Team
ray.init(address=sys.argv[1], namespace="kern", log_to_driver=False)
from actors.client import cancel_run
print("CANCELLED" if cancel_run(sys.argv[2]) else "NOT-CANCELLED", flush=True)
"""


def test_cancel_from_another_process(server: ModelServer) -> None:
    team = make_team(server, member_speed=50, member_words=2000)
    address = ray.get_runtime_context().gcs_address
    events: list = []
    output = ""
    for event in team.run("Write a story", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and not output:
            done = subprocess.run(
                [sys.executable, "-c", CANCEL_SCRIPT, address, events[0].run_id],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ},
            )
            output = done.stdout
    assert "CANCELLED" in output.split(), output
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]


def test_cancel_reaches_members_of_nested_teams(server: ModelServer) -> None:
    inner = make_team(server, member_speed=50, member_words=2000)
    outer = Team(
        name="Studio", members=[inner, Agent(name="Critic", model=model(server))], model=model(server)
    )
    events, cancelled = run_and_cancel(outer, lambda evs: evs[-1].event == RunEvent.run_content)
    assert cancelled is True
    outer_id = events[0].run_id
    assert_one_terminal_last(events, outer_id)
    inner_id = next(e.run_id for e in events if e.event == TeamRunEvent.run_started and e.run_id != outer_id)
    terminals = [(e.event.value, e.run_id) for e in events if is_terminal(e)]
    member_id = terminals[0][1]
    assert terminals == [
        ("RunCancelled", member_id),
        ("TeamRunCancelled", inner_id),
        ("TeamRunCancelled", outer_id),
    ]


def test_member_events_can_be_left_out_of_the_team_stream(server: ModelServer) -> None:
    team = make_team(server, stream_member_events=False)
    events = list(team.run("Write a story", stream=True))
    assert names(events) == [
        "TeamRunStarted",
        "TeamToolCallStarted",
        "TeamToolCallCompleted",
        "TeamRunContent",
        "TeamRunContentCompleted",
        "TeamRunCompleted",
    ]
    completed = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert completed.content.startswith("Once upon a time"), "the member's answer is still the tool result"
