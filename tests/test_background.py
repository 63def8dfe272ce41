"""Background runs (`arun(..., background=True)`): the call answers at once, the run goes on in its actor
without its caller, and `get_run_output` shows its partial answer while it runs, then its record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from kern.agent import Agent
from kern.db.base import BaseDb
from kern.model_server import ModelServer
from kern.run.base import RunStatus
from tests.support import model

pytestmark = pytest.mark.usefixtures("ray_session")


def test_a_background_run_goes_on_and_shows_its_progress(
    server: ModelServer, make_db: Callable[[str], BaseDb]
) -> None:
    db = make_db("sqlite")
    agent = Agent(name="Night Writer", model=model(server, tokens_per_second=40, reply_words=60), db=db)
    started_at = time.monotonic()
    started = asyncio.run(agent.arun("Write", background=True))
    assert time.monotonic() - started_at < 5.0
    assert started.status is RunStatus.running and started.session_id

    def progress() -> str:
        record = agent.get_run_output(started.run_id)
        assert record is not None
        return str(record.content) if record.status is RunStatus.running else ""

    deadline = time.monotonic() + 30
    while not progress():  # the partial answer, from the live actor
        assert time.monotonic() < deadline, "no partial answer while the run went on"
        time.sleep(0.05)
    while (record := agent.get_run_output(started.run_id)) is None or record.status is RunStatus.running:
        assert time.monotonic() < deadline, "the background run never ended"
        time.sleep(0.1)
    assert record.status is RunStatus.completed and len(str(record.content).split()) == 60
    stored = db.get_run(started.run_id)
    assert stored is not None and stored.status is RunStatus.completed


def test_a_background_run_can_be_cancelled(server: ModelServer, make_db: Callable[[str], BaseDb]) -> None:
    db = make_db("sqlite")
    agent = Agent(name="Night Writer", model=model(server, tokens_per_second=20, reply_words=400), db=db)
    started = asyncio.run(agent.arun("Write", background=True))
    deadline = time.monotonic() + 30
    while not (agent.get_run_output(started.run_id) or started).content:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert agent.cancel_run(started.run_id) is True
    while (record := db.get_run(started.run_id)) is None or record.status is RunStatus.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert record.status is RunStatus.cancelled and record.content


def test_background_needs_a_db_and_does_not_stream(server: ModelServer) -> None:
    agent = Agent(name="Night Writer", model=model(server))
    with pytest.raises(ValueError, match="needs a db"):
        asyncio.run(agent.arun("Write", background=True))
    with pytest.raises(ValueError, match="not streamed"):
        agent.arun("Write", background=True, stream=True)
