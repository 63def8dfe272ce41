"""A second run on a session that has one in flight follows the session policy (`busy_session`): reject it,
interrupt the first, queue behind it, or run beside it; on real actors, with the records stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from actors.runtime import ask_supervisor
from kern.agent import Agent
from kern.db.base import BaseDb
from kern.exceptions import SessionBusyError
from kern.model_server import ModelServer
from kern.run.agent import RunEvent, RunOutput
from kern.run.base import BaseRunEvent, RunStatus
from kern.specs import new_id
from tests.support import assert_one_terminal_last, model
from tests.test_failures import kill_supervisor

pytestmark = pytest.mark.usefixtures("ray_session")


def slow_agent(server: ModelServer, db: BaseDb | None = None, **options: object) -> Agent:
    """An agent whose answer takes about a second (40 words at 40 tokens/s)."""
    slow = model(server, tokens_per_second=40, reply_words=40)
    return Agent(name="Slow Clerk", model=slow, db=db, **options)  # type: ignore[arg-type]


def started_stream(agent: Agent, session_id: str) -> tuple[str, list[BaseRunEvent], threading.Thread]:
    """A streamed run on `session_id`, read on a thread; returns once its first content has arrived."""
    run_id = new_id()
    events: list[BaseRunEvent] = []
    flowing = threading.Event()

    def read() -> None:
        for event in agent.run("Write", stream=True, session_id=session_id, run_id=run_id):
            events.append(event)
            if event.event == RunEvent.run_content:
                flowing.set()
        flowing.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert flowing.wait(30), "the first run's content never came"
    return run_id, events, reader


def test_reject_refuses_a_second_run_and_names_the_first(server: ModelServer) -> None:
    agent = slow_agent(server)
    session = new_id()
    first_id, events, reader = started_stream(agent, session)
    with pytest.raises(SessionBusyError, match=f"session {session!r} has a run in flight: {first_id}"):
        agent.run("Again", session_id=session, busy_session="reject")
    reader.join(30)
    assert events[-1].event == RunEvent.run_completed, "the first run is not disturbed"
    after = agent.run("Now", session_id=session, busy_session="reject")
    assert isinstance(after, RunOutput) and after.status is RunStatus.completed


def test_interrupt_cancels_the_first_keeping_its_partial_answer(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    agent = slow_agent(server, db, busy_session="interrupt")
    session = new_id()
    first_id, events, reader = started_stream(agent, session)
    second = agent.run("Instead", session_id=session)
    reader.join(30)
    assert_one_terminal_last(events, first_id)
    assert events[-1].event == RunEvent.run_cancelled and events[-1].content
    assert second.status is RunStatus.completed
    stored = db.get_run(first_id)
    assert stored is not None and stored.status is RunStatus.cancelled and stored.content
    session_runs = db.get_session(session)
    assert session_runs is not None
    assert {run.run_id for run in session_runs.runs} == {first_id, second.run_id}


def test_enqueue_runs_one_after_the_other_in_order(server: ModelServer) -> None:
    agent = slow_agent(server, busy_session="enqueue")
    session = new_id()
    _, events, reader = started_stream(agent, session)
    outputs: dict[str, RunOutput] = {}

    def queued(name: str) -> None:
        result = agent.run(name, session_id=session)
        assert isinstance(result, RunOutput)
        outputs[name] = result

    second = threading.Thread(target=queued, args=("second",))
    second.start()
    _wait_until_queued(session)  # (the second is in the queue before the third comes)
    third = threading.Thread(target=queued, args=("third",))
    third.start()
    for thread in (reader, second, third):
        thread.join(60)
    first_end = events[-1].created_at
    assert events[-1].event == RunEvent.run_completed
    assert outputs["second"].status is RunStatus.completed and outputs["third"].status is RunStatus.completed
    assert first_end <= outputs["second"].created_at, "the second started before the first ended"
    assert outputs["second"].created_at < outputs["third"].created_at


def _wait_until_queued(session: str) -> None:
    deadline = time.monotonic() + 30
    while not ask_supervisor("queued", session):
        assert time.monotonic() < deadline, "the second run never queued"
        time.sleep(0.01)


def test_concurrent_runs_on_one_session_keep_every_record(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    agent = slow_agent(server, db)
    session = new_id()
    outputs: list[RunOutput] = []
    threads = [
        threading.Thread(target=lambda: outputs.append(agent.run("Write", session_id=session)))  # type: ignore[arg-type]
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [o.status for o in outputs] == [RunStatus.completed] * 3
    stored = db.get_session(session)
    assert stored is not None and {run.run_id for run in stored.runs} == {o.run_id for o in outputs}


def test_an_unknown_policy_is_refused_by_name(server: ModelServer) -> None:
    with pytest.raises(ValueError, match="busy_session must be one of"):
        slow_agent(server, busy_session="later")


def test_a_restarted_supervisor_still_knows_the_sessions_runs(server: ModelServer) -> None:
    """The supervisor relearns each run in flight with its session from the replicas: `reject` still sees
    the run that was in flight when it restarted."""
    agent = Agent(name="Slow Clerk", model=model(server, tokens_per_second=40, reply_words=400))
    session = new_id()
    first_id, events, reader = started_stream(agent, session)
    kill_supervisor(for_good=False)  # Ray restarts it, its tables empty
    with pytest.raises(SessionBusyError, match=f"has a run in flight: {first_id}"):
        agent.run("Again", session_id=session, busy_session="reject")
    assert agent.cancel_run(first_id) is True
    reader.join(30)
    assert events[-1].event == RunEvent.run_cancelled
