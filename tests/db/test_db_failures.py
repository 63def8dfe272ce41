"""Storage failures are told, not swallowed.

Whatever the database does (read-only files, a lock held by someone else, a stopped server, a frozen
one), a cancelled team run ends on time with the member's `RunCancelled` before `TeamRunCancelled`, each
saying in `storage_error` that its record is not saved yet; and once the database is back, the stored
records are final (CANCELLED, with the partial answer), never left RUNNING. A read-only SQLite file is an
error, never a crashed process (SQLite would die of SIGBUS on its memory-mapped `-shm` file).

Most cases run the engine in this process (`LocalLink`); one runs on real Ray actors. PostgreSQL cases
use a throw-away server of their own (tests/db/throwaway_postgres.py), never the shared one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import ray

from actors.runtime import NAMESPACE
from kern.agent import Agent
from kern.db import BaseDb, DatabaseError, PostgresDb, SqliteDb, writer
from kern.engine.local import LocalLink
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.team import TeamRunOutput
from kern.specs import AgentSpec, RunRequest, TeamSpec
from kern.team import Team
from tests.db.throwaway_postgres import ThrowawayPostgres, throwaway_postgres
from tests.support import assert_one_terminal_last, model, names

NO_HANG_SECONDS = 60.0
"""Only so that a run that never ends fails the test instead of hanging it: far above every bound."""


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records land within half a second of the database coming back (5 s in production)."""
    monkeypatch.setattr(writer, "LAST_RETRY_SECONDS", 0.5)


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = throwaway_postgres()
    yield server
    server.remove()


def team_spec(server: ModelServer, db: BaseDb) -> TeamSpec:
    """A team whose one member streams a long story slowly, both storing runs in `db`."""
    member = AgentSpec(
        id="writer", name="Writer", model=model(server, tokens_per_second=100, reply_words=2000), db=db
    )
    return TeamSpec(id="desk", name="Desk", model=model(server), members=[member], db=db)


def cancel_after_breaking(spec: TeamSpec, breaking: Callable[[], object]) -> tuple[str, list[BaseRunEvent]]:
    """Run the team in this process; once its member streams and both RUNNING records are stored, call
    `breaking` to break the database, then cancel the team's run. Returns the run id and its events."""
    request = RunRequest(input="Write a story", session_id=f"s-{uuid.uuid4().hex[:8]}")

    async def main() -> list[BaseRunEvent]:
        link = LocalLink()
        events: list[BaseRunEvent] = []
        broken = False
        async for event in link.events(spec, request):
            events.append(event)
            if not broken and event.event == RunEvent.run_content:
                broken = True
                assert spec.db is not None
                wait_for_statuses(spec.db, request.run_id, [RunStatus.running, RunStatus.running])
                breaking()
                link.host.cancel(request.run_id)
        return events

    return request.run_id, asyncio.run(asyncio.wait_for(main(), NO_HANG_SECONDS))


def assert_cancelled_on_time_and_told(events: list[BaseRunEvent], run_id: str) -> None:
    """The member's RunCancelled, then TeamRunCancelled last, each saying its record is not saved yet."""
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(events)
    assert_one_terminal_last(events, run_id)
    for terminal in events[-2:]:
        problem = getattr(terminal, "storage_error", None)
        assert problem is not None and "kern retries it" in problem, (terminal.event, problem)


def wait_for_final_records(db: BaseDb, run_id: str) -> TeamRunOutput:
    """The team run's record once it and its member's are CANCELLED (polled: the writer retries)."""
    deadline = time.monotonic() + NO_HANG_SECONDS
    record = None
    while time.monotonic() < deadline:
        try:
            record = db.get_run(run_id)
        except DatabaseError:
            record = None
        if (
            isinstance(record, TeamRunOutput)
            and record.status is RunStatus.cancelled
            and record.member_responses
            and all(m.status is RunStatus.cancelled for m in record.member_responses)
        ):
            member = db.get_run(record.member_responses[0].run_id)
            assert member is not None and member.status is RunStatus.cancelled and member.content
            assert record.member_responses[0].content
            return record
        time.sleep(0.2)
    pytest.fail(f"the records of run {run_id} never became final: {record!r}")


def statuses(db: BaseDb, run_id: str) -> list[RunStatus]:
    """The team run's status and its members' as stored now."""
    record = db.get_run(run_id)
    if not isinstance(record, TeamRunOutput):
        return []
    return [record.status, *(m.status for m in record.member_responses)]


def wait_for_statuses(db: BaseDb, run_id: str, expected: list[RunStatus]) -> None:
    deadline = time.monotonic() + NO_HANG_SECONDS
    while statuses(db, run_id) != expected:
        assert time.monotonic() < deadline, statuses(db, run_id)
        time.sleep(0.05)


# ----- SQLite ---------------------------------------------------------------------------------------


def immutable(paths: list[Path], on: bool) -> None:
    """`chattr +i` / `-i`: how root makes a file read-only (chmod does not stop root)."""
    subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def sqlite_files(tmp_path: Path) -> Iterator[list[Path]]:
    """A SQLite database's three files (the test makes them read-only); skips where `chattr +i` can't."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    try:
        immutable([probe], True)
        immutable([probe], False)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot make files immutable here (chattr +i needs root and ext4, xfs, tmpfs...)")
    db_file = tmp_path / "kern.db"
    files = [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")]
    yield files
    immutable([f for f in files if f.exists()], False)


def test_sqlite_made_read_only_mid_run_is_an_error_not_a_crash(
    server: ModelServer, sqlite_files: list[Path]
) -> None:
    db = SqliteDb(sqlite_files[0])
    run_id, events = cancel_after_breaking(team_spec(server, db), lambda: immutable(sqlite_files, True))

    assert_cancelled_on_time_and_told(events, run_id)
    assert "read-only" in str(getattr(events[-1], "storage_error", ""))
    with pytest.raises(DatabaseError, match="read-only"):  # reads are errors too, not SIGBUS
        db.get_run(run_id)
    immutable(sqlite_files, False)
    wait_for_final_records(db, run_id)


def test_sqlite_locked_then_cancel_ends_on_time_and_the_records_land_after(
    server: ModelServer, tmp_path: Path
) -> None:
    db = SqliteDb(tmp_path / "kern.db")
    holder = sqlite3.connect(db.db_file, isolation_level=None, check_same_thread=False)
    try:
        run_id, events = cancel_after_breaking(
            team_spec(server, db), lambda: holder.execute("BEGIN IMMEDIATE")
        )

        assert_cancelled_on_time_and_told(events, run_id)
        # The events came while the lock was still held: nothing final could be written yet.
        assert statuses(db, run_id) == [RunStatus.running, RunStatus.running]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for_final_records(db, run_id)


def live_actor_id(name: str) -> str:
    """The id of the named actor, once it has answered a call (a dead one has no name, or never answers)."""
    actor = ray.get_actor(name, namespace=NAMESPACE)
    ray.get(actor.__ray_ready__.remote(), timeout=NO_HANG_SECONDS)
    return actor._actor_id.hex()


@pytest.mark.usefixtures("ray_session")
def test_sqlite_read_only_does_not_crash_the_actors(server: ModelServer, sqlite_files: list[Path]) -> None:
    db = SqliteDb(sqlite_files[0])
    member = Agent(name="Readonly Writer", model=model(server, tokens_per_second=100, reply_words=2000))
    team = Team(name="Readonly Desk", members=[member], model=model(server), db=db)
    events: list[BaseRunEvent] = []
    actors: tuple[str, str] | None = None
    for event in team.run("Write a story", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and actors is None:
            actors = (live_actor_id("kern:team:readonly-desk"), live_actor_id("kern:agent:readonly-writer"))
            wait_for_statuses(db, events[0].run_id, [RunStatus.running, RunStatus.running])
            immutable(sqlite_files, True)
            team.cancel_run(events[0].run_id)

    assert_cancelled_on_time_and_told(events, events[0].run_id)
    assert "read-only" in str(getattr(events[-1], "storage_error", ""))
    immutable(sqlite_files, False)
    wait_for_final_records(db, events[0].run_id)
    # Neither actor died: the same ones still answer.
    assert (live_actor_id("kern:team:readonly-desk"), live_actor_id("kern:agent:readonly-writer")) == actors


# ----- PostgreSQL -----------------------------------------------------------------------------------


def postgres_db(postgres: ThrowawayPostgres) -> PostgresDb:
    """A fresh schema on the throw-away server; a frozen server is given up after 2 s."""
    return PostgresDb(
        postgres.url, db_schema=f"t_{uuid.uuid4().hex[:12]}", connect_timeout=2, query_timeout=2
    )


def test_postgres_stopped_then_cancel_the_records_land_when_it_is_back(
    server: ModelServer, postgres: ThrowawayPostgres
) -> None:
    db = postgres_db(postgres)
    try:
        run_id, events = cancel_after_breaking(team_spec(server, db), postgres.stop)
        assert_cancelled_on_time_and_told(events, run_id)
    finally:
        postgres.start()
    wait_for_final_records(db, run_id)


def test_postgres_frozen_then_cancel_ends_on_time_and_the_records_land_when_it_thaws(
    server: ModelServer, postgres: ThrowawayPostgres
) -> None:
    db = postgres_db(postgres)
    try:
        run_id, events = cancel_after_breaking(team_spec(server, db), postgres.freeze)
        assert_cancelled_on_time_and_told(events, run_id)
        # A read on the frozen server is an error after its timeout, not a wait forever.
        assert isinstance(call_bounded(lambda: db.get_run(run_id)), DatabaseError)
    finally:
        postgres.thaw()
    wait_for_final_records(db, run_id)


def test_postgres_frozen_at_the_start_no_run_hangs(server: ModelServer, postgres: ThrowawayPostgres) -> None:
    db = postgres_db(postgres)
    db.get_run("warm-up")  # tables created and a connection in the pool, before the freeze
    agent = AgentSpec(id="chatter", name="Chatter", model=model(server), db=db, add_history_to_context=True)
    left, cancelled = RunRequest(input="Hello"), RunRequest(input="Hello")

    async def main() -> tuple[list[BaseRunEvent], list[BaseRunEvent]]:
        link = LocalLink()

        async def collect(request: RunRequest, cancel: bool) -> list[BaseRunEvent]:
            events = []
            async for event in link.events(agent, request):
                events.append(event)
                if cancel and event.event == RunEvent.run_started:
                    link.host.cancel(request.run_id)
            return events

        return await asyncio.gather(collect(left, False), collect(cancelled, True))

    postgres.freeze()
    try:
        left_events, cancelled_events = asyncio.run(asyncio.wait_for(main(), NO_HANG_SECONDS))
    finally:
        postgres.thaw()
    # The history could not be read in time: an error that says so, before any model call.
    assert names(left_events) == ["RunStarted", "RunError"]
    assert "answer within" in left_events[-1].content
    # A cancel while the run waits for its database is a RunCancelled, not a wait.
    assert names(cancelled_events) == ["RunStarted", "RunCancelled"]
    assert server.requests == []


def call_bounded(fn: Callable[[], object]) -> object:
    """`fn()` in a thread: its result or exception; fails the test if it does not return."""
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(NO_HANG_SECONDS)
    assert outcome, "the call did not return: it waits for the database forever"
    return outcome[0]


@pytest.mark.usefixtures("ray_session")
def test_postgres_frozen_under_real_actors_then_cancel_ends_on_time(
    server: ModelServer, postgres: ThrowawayPostgres
) -> None:
    """The same row on Ray: the writers that hold the records are the actors' own."""
    db = postgres_db(postgres)
    member = Agent(name="Frozen Writer", model=model(server, tokens_per_second=100, reply_words=2000))
    team = Team(name="Frozen Desk", members=[member], model=model(server), db=db)
    events: list[BaseRunEvent] = []
    cancelled: float | None = None
    try:
        for event in team.run("Write a story", stream=True):
            events.append(event)
            if event.event == RunEvent.run_content and cancelled is None:
                wait_for_statuses(db, events[0].run_id, [RunStatus.running, RunStatus.running])
                postgres.freeze()
                cancelled = time.monotonic()
                assert team.cancel_run(events[0].run_id) is True
        assert cancelled is not None and time.monotonic() - cancelled < 6, "2 s per team level, a margin"
        assert_cancelled_on_time_and_told(events, events[0].run_id)
    finally:
        postgres.thaw()
    wait_for_final_records(db, events[0].run_id)
