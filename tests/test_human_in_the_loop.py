"""Human in the loop on real actors: tools that wait for a confirmation, a person's input or the caller's
own execution pause the run (`RunPaused`, a PAUSED record); `continue_run` resumes it with the answers,
from the returned record, from its events, or by run id from the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import ray

from actors.runtime import NAMESPACE
from kern.agent import Agent
from kern.continuation import AlreadyContinuing, NotPausedError
from kern.db.base import BaseDb
from kern.model_server import ModelServer
from kern.models.scripted import Call, ScriptedModel, Text
from kern.run.agent import RunEvent, RunOutput
from kern.run.base import RunStatus
from kern.run.events import is_terminal
from kern.run.team import TeamRunEvent
from kern.team import Team, TeamMode
from kern.tools import tool
from tests.support import assert_one_terminal_last, model, names

pytestmark = pytest.mark.usefixtures("ray_session")


@tool(requires_confirmation=True)
def delete_records(table: str) -> str:
    """Delete every record of a table.

    Args:
        table: The table.
    """
    return f"deleted all of {table}"


@tool(requires_user_input=True, user_input_fields=["to_address"])
def send_email(subject: str, to_address: str) -> str:
    """Send an email.

    Args:
        subject: The subject.
        to_address: Whom to send it to.
    """
    return f"sent {subject!r} to {to_address}"


@tool(external_execution=True)
def run_shell(command: str) -> str:
    """Run a shell command on the user's machine."""
    raise AssertionError("an external tool is never run by kern")


def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return f"Sunny in {city}"


def paused(server: ModelServer, tools: list, db: BaseDb | None = None) -> Agent:
    return Agent(name="Careful", model=model(server), tools=tools, db=db)


def test_confirmed_call_runs_after_continue(server: ModelServer) -> None:
    agent = paused(server, [delete_records])
    first = agent.run("Use delete_records")
    assert isinstance(first, RunOutput)
    assert first.status is RunStatus.paused and first.is_paused
    assert [t.tool_name for t in first.tools_requiring_confirmation] == ["delete_records"]
    (requirement,) = first.active_requirements
    assert requirement.needs_confirmation and requirement.tool_execution.result is None
    assert len(server.requests) == 1, "the model is not called again before the answer"

    requirement.confirm()
    done = agent.continue_run(run_response=first)
    assert isinstance(done, RunOutput)
    assert done.status is RunStatus.completed and done.run_id == first.run_id
    (call,) = done.tools
    assert call.confirmed is True and call.result == "deleted all of example"
    assert done.content.startswith("Based on deleted all of example:")
    assert not done.active_requirements


def test_rejected_call_is_not_run_and_the_model_is_told(server: ModelServer) -> None:
    agent = paused(server, [delete_records])
    first = agent.run("Use delete_records")
    first.active_requirements[0].reject("not on a Friday")
    done = agent.continue_run(first)
    assert done.status is RunStatus.completed
    (call,) = done.tools
    assert call.confirmed is False and call.result is None and call.error == "not on a Friday"
    assert done.content.startswith("Based on not on a Friday:")


def test_stream_pauses_then_continues_from_the_paused_event(server: ModelServer) -> None:
    agent = paused(server, [delete_records, get_weather])
    events = list(agent.run("Use delete_records and get_weather", stream=True))
    assert_one_terminal_last(events, events[0].run_id)
    last = events[-1]
    assert last.event == RunEvent.run_paused and last.is_paused
    assert [t.tool_name for t in last.tools] == ["delete_records"]
    # The call that needs no one ran before the pause.
    completed = [e.tool.tool_name for e in events if e.event == RunEvent.tool_call_completed]
    assert completed == ["get_weather"]

    for waiting in last.tools_requiring_confirmation:
        waiting.confirmed = True
    resumed = list(agent.continue_run(run_id=last.run_id, updated_tools=last.tools, stream=True))
    assert names(resumed)[0] == RunEvent.run_continued
    assert_one_terminal_last(resumed, last.run_id)
    assert resumed[-1].event == RunEvent.run_completed
    ran = [e.tool.tool_name for e in resumed if e.event == RunEvent.tool_call_completed]
    assert ran == ["delete_records"]


def test_user_input_fills_the_fields_the_model_does_not_see(server: ModelServer) -> None:
    agent = paused(server, [send_email])
    first = agent.run("Use send_email")
    offered = server.requests[0].body["tools"][0]["parameters"]["properties"]
    assert set(offered) == {"subject"}, "to_address is the person's to give"
    (requirement,) = first.active_requirements
    assert requirement.needs_user_input
    assert {f.name: f.value for f in requirement.user_input_schema} == {
        "subject": "example",
        "to_address": None,
    }
    with pytest.raises(ValueError, match="takes no input named"):
        requirement.provide_user_input({"cc": "x"})
    requirement.provide_user_input({"to_address": "ada@example.org"})
    done = agent.continue_run(first)
    assert done.status is RunStatus.completed
    assert done.tools[0].result == "sent 'example' to ada@example.org"


def test_external_execution_takes_the_callers_result(server: ModelServer) -> None:
    agent = paused(server, [run_shell])
    first = agent.run("Use run_shell")
    assert [t.tool_name for t in first.tools_awaiting_external_execution] == ["run_shell"]
    first.active_requirements[0].set_external_execution_result("3 files")
    done = agent.continue_run(first)
    assert done.status is RunStatus.completed
    assert done.content.startswith("Based on 3 files:")


def test_continue_by_run_id_from_the_database_in_a_new_agent(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    first = paused(server, [delete_records], db).run("Use delete_records")
    stored = db.get_run(first.run_id)
    assert stored is not None and stored.status is RunStatus.paused
    assert stored.requirements and stored.requirements[0].needs_confirmation

    other = paused(server, [delete_records], db)  # another object, as another process would make
    requirement = stored.requirements[0]
    requirement.confirm()
    done = asyncio.run(other.acontinue_run(run_id=first.run_id, requirements=[requirement]))
    assert done.status is RunStatus.completed
    record = db.get_run(first.run_id)
    assert record is not None and record.status is RunStatus.completed
    assert record.tools[0].result == "deleted all of example"
    assert [m.role for m in record.messages][-3:] == ["assistant", "tool", "assistant"]


def test_unanswered_or_not_paused_runs_are_refused_before_anything_runs(server: ModelServer) -> None:
    agent = paused(server, [delete_records])
    first = agent.run("Use delete_records")
    calls = len(server.requests)
    with pytest.raises(ValueError, match=r"still waits for: delete_records \(confirmation\)"):
        agent.continue_run(first)
    first.active_requirements[0].confirm()
    done = agent.continue_run(first)
    with pytest.raises(NotPausedError, match="is COMPLETED, not PAUSED"):
        agent.continue_run(done)
    with pytest.raises(ValueError, match="needs the paused run"):
        agent.continue_run()
    assert len(server.requests) == calls + 1


def test_async_stream_continue(server: ModelServer) -> None:
    agent = paused(server, [delete_records])

    async def scenario() -> list[str]:
        first = await agent.arun("Use delete_records")
        first.active_requirements[0].confirm()
        return [e.event async for e in agent.acontinue_run(first, stream=True)]

    seen = asyncio.run(scenario())
    assert seen[0] == RunEvent.run_continued and seen[-1] == RunEvent.run_completed


def test_a_member_that_pauses_pauses_its_team_and_the_team_continues_it(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    member = Agent(name="Janitor", model=model(server), tools=[delete_records])
    team = Team(name="Ops", members=[member], model=model(server), db=db)
    events = list(team.run("Use delete_records", stream=True))
    team_run = events[0].run_id
    assert_one_terminal_last(events, team_run)
    assert [e.event for e in events if e.is_paused] == [RunEvent.run_paused, TeamRunEvent.run_paused]
    paused = events[-1]
    (requirement,) = paused.requirements
    assert requirement.member_agent_name == "Janitor" and requirement.needs_confirmation
    assert requirement.member_run_id == next(e.run_id for e in events if e.event == RunEvent.run_paused)
    stored = db.get_run(team_run)
    assert stored is not None and stored.status is RunStatus.paused
    assert [m.status for m in stored.member_responses] == [RunStatus.paused]

    requirement.confirm()
    resumed = list(team.continue_run(run_id=team_run, requirements=[requirement], stream=True))
    assert_one_terminal_last(resumed, team_run)
    kinds = names(resumed)
    assert kinds[0] == TeamRunEvent.run_continued and kinds[-1] == TeamRunEvent.run_completed
    # The member goes on in the team's stream, then the leader answers with what the member said.
    assert kinds.index(RunEvent.run_continued) < kinds.index(RunEvent.run_completed)
    member_answer = next(e for e in resumed if e.event == RunEvent.run_completed).content
    assert member_answer.startswith("Based on deleted all of example:")
    done = db.get_run(team_run)
    assert done is not None and done.status is RunStatus.completed
    assert done.content.startswith("Based on Member results after human-in-the-loop resolution: [Janitor]:")
    assert [m.status for m in done.member_responses] == [RunStatus.completed]
    # The leader's context is whole: its first call, the delegation and the member's answer.
    assert [m.role for m in done.messages if m.role != "system"] == ["user", "assistant", "tool", "assistant"]


def test_two_members_paused_at_once_in_broadcast_are_answered_in_one_continue(server: ModelServer) -> None:
    members = [
        Agent(name="Janitor", model=model(server), tools=[delete_records]),
        Agent(name="Mailer", model=model(server), tools=[send_email]),
    ]
    team = Team(name="Crew", members=members, model=model(server), delegate_to_all_members=True)
    first = team.run("Use delete_records and send_email")
    assert first.status is RunStatus.paused
    by_member = {r.member_agent_name: r for r in first.active_requirements}
    assert set(by_member) == {"Janitor", "Mailer"}
    by_member["Janitor"].reject("not today")
    by_member["Mailer"].provide_user_input({"to_address": "ada@example.org"})
    done = team.continue_run(first)
    assert done.status is RunStatus.completed, done.error
    statuses = {m.agent_name: m.status for m in done.member_responses}
    assert statuses == {"Janitor": RunStatus.completed, "Mailer": RunStatus.completed}
    told = next(m.content for m in done.messages if m.role == "tool")
    assert told.startswith("Member results after human-in-the-loop resolution:")  # (Agno's words)
    assert "[Janitor]: Based on not today:" in told
    assert "[Mailer]: Based on sent 'example' to ada@example.org:" in told


def test_a_pause_two_teams_deep_is_answered_from_the_top(server: ModelServer) -> None:
    janitor = Agent(name="Janitor", model=model(server), tools=[delete_records])
    inner = Team(name="Facilities", members=[janitor], model=model(server))
    outer = Team(name="Company", members=[inner], model=model(server), respond_directly=True)
    first = outer.run("Use delete_records")
    assert first.status is RunStatus.paused
    (requirement,) = first.active_requirements
    assert requirement.member_agent_name == "Janitor"
    requirement.confirm()
    events = list(outer.continue_run(first, stream=True))
    assert_one_terminal_last(events, first.run_id)
    continued = [e.event for e in events if e.event in (RunEvent.run_continued, TeamRunEvent.run_continued)]
    assert continued == [TeamRunEvent.run_continued] * 2 + [RunEvent.run_continued]  # outer, inner, agent
    ran = [e.tool.result for e in events if e.event == RunEvent.tool_call_completed]
    assert ran == ["deleted all of example"]
    assert events[-1].event == TeamRunEvent.run_completed
    inner_ends = [e.event for e in events if e.run_id not in (first.run_id,) and is_terminal(e)]
    assert inner_ends == [RunEvent.run_completed, TeamRunEvent.run_completed]  # Janitor, then Facilities


def test_a_tasks_team_pauses_at_its_members_task_and_the_task_ends_on_continue(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    """The leader runs a task whose member pauses: the team pauses, the task stays in progress; on
    continue the member goes on, the task completes with its answer (Agno leaves it in progress), and
    the leader is told the member's answer in Agno's words."""
    db = make_db("sqlite")
    cleanup = {
        "id": "execute_task",
        "title": "Clean up",
        "description": "Use delete_records",
        "assignee": "janitor",
    }
    member = Agent(name="Janitor", model=model(server), tools=[delete_records])
    team = Team(
        name="Ops Desk", members=[member], model=model(server), mode=TeamMode.tasks, max_iterations=2, db=db,
        session_state={"_team_tasks": {"tasks": [cleanup]}},
    )  # fmt: skip
    first = team.run("execute_task")
    assert first.status is RunStatus.paused, first.error
    (requirement,) = first.active_requirements
    assert requirement.member_agent_name == "Janitor" and requirement.needs_confirmation
    stored = db.get_run(first.run_id)
    assert stored is not None and stored.status is RunStatus.paused
    (task,) = first.session_state["_team_tasks"]["tasks"]
    assert task["status"] == "in_progress", "the task waits with its member"

    requirement.confirm()
    done = team.continue_run(run_id=first.run_id, requirements=[requirement])
    assert done.status is RunStatus.completed, done.error
    (task,) = done.session_state["_team_tasks"]["tasks"]
    assert task["status"] == "completed" and task["result"].startswith("Based on deleted all of example:")
    told = [m.content for m in done.messages if m.role == "tool"]
    assert told[0] == f"Member results after human-in-the-loop resolution:\n[Janitor]: {task['result']}"
    assert [m.status for m in done.member_responses] == [RunStatus.completed]


def test_tasks_run_in_parallel_wait_for_the_one_that_paused_and_all_end_on_continue(
    server: ModelServer,
) -> None:
    """`execute_tasks_parallel`: one member pauses, the other answers; the call waits for both, and on
    continue each task gets its own member's answer."""
    leader = ScriptedModel(
        replies=[
            [Call(name="execute_tasks_parallel", arguments={"task_ids": ["clean", "count"]})],
            [Text(text="Done.")],
        ]
    )
    members = [
        Agent(name="Janitor", model=model(server), tools=[delete_records]),
        Agent(name="Counter", model=model(server)),
    ]
    tasks = [
        {"id": "clean", "title": "Clean up", "description": "Use delete_records", "assignee": "janitor"},
        {"id": "count", "title": "Count", "description": "Count the rows", "assignee": "counter"},
    ]
    team = Team(
        name="Parallel Desk", members=members, model=leader, mode=TeamMode.tasks, max_iterations=1,
        session_state={"_team_tasks": {"tasks": tasks}},
    )  # fmt: skip
    first = team.run("Clean and count")
    assert first.status is RunStatus.paused, first.error
    assert [r.member_agent_name for r in first.active_requirements] == ["Janitor"]
    for requirement in first.active_requirements:
        requirement.confirm()
    done = team.continue_run(first)
    assert done.status is RunStatus.completed and done.content == "Done.", done.error
    results = {t["id"]: (t["status"], t["result"]) for t in done.session_state["_team_tasks"]["tasks"]}
    assert results["clean"][0] == "completed" and results["clean"][1].startswith("Based on deleted all of")
    assert results["count"][0] == "completed" and not results["count"][1].startswith("Based on deleted")
    (told,) = [m.content for m in done.messages if m.role == "tool"]
    assert told == (
        "Member results after human-in-the-loop resolution:\n"
        f"[Janitor]: {results['clean'][1]}\n[Counter]: {results['count'][1]}"
    )


def test_the_paused_runs_actor_dies_before_the_continue(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    agent = Agent(name="Mortal Careful", model=model(server), tools=[delete_records], db=db)
    first = agent.run("Use delete_records")
    assert first.status is RunStatus.paused
    ray.kill(ray.get_actor("kern:agent:mortal-careful", namespace=NAMESPACE), no_restart=True)
    first.active_requirements[0].confirm()
    done = agent.continue_run(run_id=first.run_id, requirements=first.requirements)
    assert done.status is RunStatus.completed and done.tools[0].result == "deleted all of example"


def test_cancel_ends_a_paused_run(server: ModelServer, make_db: Callable[[str], BaseDb]) -> None:
    db = make_db("sqlite")
    agent = paused(server, [delete_records], db)
    first = agent.run("Use delete_records")
    assert agent.cancel_run(first.run_id) is True
    stored = db.get_run(first.run_id)
    assert stored is not None and stored.status is RunStatus.cancelled
    first.active_requirements[0].confirm()
    with pytest.raises(NotPausedError, match="is CANCELLED, not PAUSED"):
        agent.continue_run(run_id=first.run_id, requirements=first.requirements)
    assert agent.cancel_run(first.run_id) is False


def test_a_second_continue_of_the_same_run_is_refused_while_the_first_runs(server: ModelServer) -> None:
    agent = Agent(
        name="Slow Careful", model=model(server, tokens_per_second=50, reply_words=50), tools=[delete_records]
    )
    first = agent.run("Use delete_records")
    first.active_requirements[0].confirm()
    stream = agent.continue_run(first, stream=True)
    assert next(iter(stream)).event == RunEvent.run_continued
    with pytest.raises(AlreadyContinuing, match="is being continued already"):
        agent.continue_run(first)
    rest = list(stream)
    assert rest[-1].event == RunEvent.run_completed
    assert [e.tool.tool_name for e in rest if e.event == RunEvent.tool_call_completed] == ["delete_records"]


def test_cancelling_a_paused_team_cancels_its_paused_member(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    member = Agent(name="Janitor", model=model(server), tools=[delete_records])
    team = Team(name="Ops", members=[member], model=model(server), db=db)
    first = team.run("Use delete_records")
    member_run = first.member_responses[0].run_id
    assert team.cancel_run(first.run_id) is True
    stored_team, stored_member = db.get_run(first.run_id), db.get_run(member_run)
    assert stored_team is not None and stored_team.status is RunStatus.cancelled
    assert [m.status for m in stored_team.member_responses] == [RunStatus.cancelled]
    assert stored_member is not None and stored_member.status is RunStatus.cancelled
