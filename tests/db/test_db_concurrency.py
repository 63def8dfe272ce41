"""Many runs saved at once, from threads and from processes; pickling a db into another process."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections.abc import Callable

import pytest

from kern.db import BaseDb
from kern.run.agent import RunOutput
from kern.run.base import RunStatus
from kern.run.team import TeamRunOutput

RUNS = 20
PROCESSES = 4
SESSIONS = ("s0", "s1")


def run_lifecycle(db: BaseDb, name: str, index: int) -> None:
    """Save one run as a run loop does: at start, midway, at the end (a team's member also on its own)."""
    session = SESSIONS[index % len(SESSIONS)]
    created = 1_700_000_000.0 + index
    if index % 2:
        run: RunOutput = RunOutput(
            run_id=name, agent_id="agent", agent_name="Agent", session_id=session, created_at=created
        )
        member = None
    else:
        member = RunOutput(
            run_id=f"{name}-m",
            agent_id="member",
            agent_name="Member",
            session_id=session,
            parent_run_id=name,
            created_at=created + 0.5,
        )
        run = TeamRunOutput(
            run_id=name, team_id="team", team_name="Team", session_id=session, created_at=created
        )
    run.status = RunStatus.running
    db.save_run(run)
    if member is not None:
        member.status = RunStatus.running
        db.save_run(member)
    run.content = "partial"
    db.save_run(run)
    if member is not None:
        member.status, member.content = RunStatus.completed, f"member of {name}"
        db.save_run(member)
        assert isinstance(run, TeamRunOutput)
        run.member_responses = [member]
    run.status, run.content = RunStatus.completed, f"final {name}"
    db.save_run(run)


def run_in_threads(
    db: BaseDb, names: list[tuple[str, int]], barrier: Callable[[], object]
) -> list[BaseException]:
    errors: list[BaseException] = []

    def one(name: str, index: int) -> None:
        try:
            barrier()
            run_lifecycle(db, name, index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=item) for item in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a saving thread hung"
    return errors


def process_worker(db: BaseDb, worker: int, barrier: object) -> None:
    """In a spawned process: this worker's share of the runs, each in its own thread, all at once."""
    names = [(f"run-{i:02d}", i) for i in range(RUNS) if i % PROCESSES == worker]
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    errors = run_in_threads(db, names, lambda: None)
    if errors:
        raise errors[0]


def check_all_saved(db: BaseDb) -> None:
    seen: list[str] = []
    for session in SESSIONS:
        record = db.get_session(session)
        assert record is not None
        assert record.session_type in ("agent", "team")
        for run in record.runs:
            seen.append(run.run_id)
            assert run.status is RunStatus.completed, run
            assert run.content == f"final {run.run_id}"
            if isinstance(run, TeamRunOutput):
                assert [m.run_id for m in run.member_responses] == [f"{run.run_id}-m"]
                assert run.member_responses[0].content == f"member of {run.run_id}"
                assert run.member_responses[0].status is RunStatus.completed
    assert sorted(seen) == [f"run-{i:02d}" for i in range(RUNS)]
    assert len(db.get_sessions()) == len(SESSIONS)


def test_concurrent_runs_from_threads(db: BaseDb) -> None:
    barrier = threading.Barrier(RUNS)
    errors = run_in_threads(db, [(f"run-{i:02d}", i) for i in range(RUNS)], lambda: barrier.wait(timeout=30))
    assert errors == []
    check_all_saved(db)


def test_concurrent_runs_from_processes(db: BaseDb) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    # The db is not used here first: the processes also race to create the tables.
    procs = [ctx.Process(target=process_worker, args=(db, w, barrier)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=90)
        assert [p.exitcode for p in procs] == [0] * PROCESSES
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    check_all_saved(db)


@pytest.mark.parametrize("used_before", [False, True])
def test_pickled_db_reopens_its_engine(db: BaseDb, used_before: bool) -> None:
    run = RunOutput(run_id="r1", agent_id="a", agent_name="A", session_id="s", status=RunStatus.completed)
    if used_before:
        db.save_run(run)
        assert db._engine is not None
    blob = pickle.dumps(db)
    copy = pickle.loads(blob)
    assert type(copy) is type(db)
    assert copy._engine is None
    assert b"sqlalchemy.engine" not in blob
    copy.save_run(run.model_copy(update={"run_id": "r2", "created_at": run.created_at + 1}))
    assert copy.engine is not db.engine
    if used_before:
        assert [r.run_id for r in copy.get_session_runs("s")] == ["r1", "r2"]
    assert db.get_run("r2") is not None
    copy.close()
