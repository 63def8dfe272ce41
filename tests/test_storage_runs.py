"""Runs stored where they execute (inside the actors), on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kern.agent import Agent
from kern.db import BaseDb
from kern.model_server import Fault, ModelServer
from kern.run.agent import RunEvent
from kern.run.base import RunStatus
from kern.run.team import TeamRunOutput
from kern.specs import new_id
from kern.team import Team
from tests.support import model

pytestmark = pytest.mark.usefixtures("ray_session")


def test_completed_cancelled_and_failed_runs_are_stored(server: ModelServer, db: BaseDb) -> None:
    agent = Agent(name="Archivist", model=model(server, max_retries=0), db=db)
    done = agent.run("Hello", session_id="s-store", user_id="ada")
    stored = db.get_run(done.run_id)
    assert stored is not None and stored.status is RunStatus.completed
    assert (stored.content, stored.input, stored.user_id) == (done.content, "Hello", "ada")
    assert [m.role for m in stored.messages] == ["user", "assistant"]
    assert stored.metrics.output_tokens == 30

    slow = Agent(name="Archivist", model=model(server, tokens_per_second=50, reply_words=2000), db=db)
    run_id = new_id()
    events = []
    for event in slow.run("Long", stream=True, run_id=run_id, session_id="s-store"):
        events.append(event)
        if sum(e.event == RunEvent.run_content for e in events) == 5:
            threading.Thread(target=slow.cancel_run, args=(run_id,)).start()
    cancelled = db.get_run(run_id)
    assert cancelled.status is RunStatus.cancelled
    assert cancelled.content == events[-1].content and len(cancelled.content.split()) >= 5

    server.add_fault(Fault(kind="500"))
    failed = agent.run("Boom", session_id="s-store")
    stored_failure = db.get_run(failed.run_id)
    assert stored_failure.status is RunStatus.error and "HTTP 500" in stored_failure.error

    session = db.get_session("s-store")
    assert [r.status for r in session.runs] == [RunStatus.completed, RunStatus.cancelled, RunStatus.error]


def test_member_runs_are_stored_under_the_team_run(server: ModelServer, db: BaseDb) -> None:
    members = [Agent(name="Storyteller", model=model(server)), Agent(name="Editor", model=model(server))]
    team = Team(name="Story Team", members=members, model=model(server), db=db)
    output = team.run("A story", session_id="s-team")
    stored = db.get_run(output.run_id)
    assert isinstance(stored, TeamRunOutput) and stored.status is RunStatus.completed
    [member] = stored.member_responses
    assert (member.agent_id, member.parent_run_id, member.status) == (
        "storyteller",
        output.run_id,
        RunStatus.completed,
    )
    assert [m.role for m in member.messages] == ["user", "assistant"], "the member's own full record"
    assert [r.run_id for r in db.get_session_runs("s-team")] == [output.run_id]


def test_a_session_continues_with_its_history(server: ModelServer, db: BaseDb) -> None:
    agent = Agent(name="Chatter", model=model(server), db=db, add_history_to_context=True, num_history_runs=2)
    first = agent.run("My name is Ada", session_id="s-chat")
    agent.run("What is my name?", session_id="s-chat")
    third_input = "And my favourite colour?"
    agent.run(third_input, session_id="s-chat")
    sent = server.requests[-1].body["input"]
    texts = [item["content"] for item in sent if "content" in item]
    assert texts[0] == "My name is Ada" and texts[1] == first.content
    assert texts[-1] == third_input and len(texts) == 5, "two earlier turns plus the new input"


def test_twenty_concurrent_runs_are_all_stored(server: ModelServer, db: BaseDb) -> None:
    agents = [
        Agent(name=f"Worker {i % 4}", model=model(server, tokens_per_second=200), db=db) for i in range(4)
    ]

    async def main() -> list[str]:
        outputs = await asyncio.gather(
            *(agents[i % 4].arun(f"Job {i}", session_id=f"s-many-{i % 5}") for i in range(20))
        )
        return [output.run_id for output in outputs]

    run_ids = asyncio.run(main())
    stored = [db.get_run(run_id) for run_id in run_ids]
    assert all(run is not None and run.status is RunStatus.completed for run in stored)
    assert sorted(run.input for run in stored) == sorted(f"Job {i}" for i in range(20))
    assert sum(len(db.get_session_runs(f"s-many-{i}")) for i in range(5)) == 20


def test_unreachable_database_is_a_clear_run_error(server: ModelServer) -> None:
    from kern.db import PostgresDb

    db = PostgresDb("postgresql://kern:secret@127.0.0.1:9/nowhere")
    output = Agent(name="Archivist", model=model(server), db=db).run("Hello")
    assert output.status is RunStatus.error
    assert "127.0.0.1:9" in output.error and "secret" not in output.error
