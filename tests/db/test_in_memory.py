"""`InMemoryDb`: one store in a Ray actor, reached from the driver and from other Ray processes alike."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Iterator

import pytest
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from actors.runtime import NAMESPACE
from kern.db import BaseDb, DatabaseError, InMemoryDb, SessionRecord, reader, writer
from kern.run.agent import RunOutput
from kern.run.team import TeamRunOutput
from tests.db.test_db_store import agent_run, team_run

pytestmark = pytest.mark.usefixtures("ray_session")


def kill(db: InMemoryDb) -> None:
    """Kill the store's actor and wait until it is dead (`ray.kill` returns before)."""
    try:
        handle = ray.get_actor(db.actor_name, namespace=NAMESPACE)
    except ValueError:
        return  # gone already
    ray.kill(handle)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            ray.get(handle.__ray_ready__.remote(), timeout=5)
        except (RayActorError, GetTimeoutError):
            return
        time.sleep(0.05)
    raise AssertionError(f"{db.actor_name} still answers 30 s after ray.kill")


@pytest.fixture
def memory() -> Iterator[InMemoryDb]:
    db = InMemoryDb()
    db.attach()
    yield db
    kill(db)


def test_it_stores_like_the_sql_databases(memory: InMemoryDb) -> None:
    assert isinstance(memory, BaseDb)
    memory.save_run(team_run("t1", 1, [agent_run("m1", 1.5)], session_state={"n": 1}))
    memory.save_runs([agent_run("r2", 2), agent_run("r3", 3, session_id="s2")])

    got = memory.get_run("t1")
    assert isinstance(got, TeamRunOutput) and [m.run_id for m in got.member_responses] == ["m1"]
    record = memory.get_session("s1")
    assert isinstance(record, SessionRecord) and [r.run_id for r in record.runs] == ["t1", "r2"]
    assert {s.session_id for s in memory.get_sessions()} == {"s1", "s2"}
    assert [r.run_id for r in memory.get_session_runs("s1")] == ["t1", "r2"]
    assert [r.run_id for r in memory.get_history("s1", None, 5)] == ["t1", "r2"]
    assert memory.get_session_state("s1") == {"n": 1}
    assert memory.update_session("s1", session_name="Named", session_state={"n": 2}) is True
    assert memory.update_session("nope", session_name="x") is False
    memory.upsert_session("s3", "agent", "agent-1", session_state={"fresh": True})
    assert memory.get_session_state("s3") == {"fresh": True}
    page = memory.get_sessions(limit=1, page=2, sort_by="session_id", sort_order="asc", session_name="named")
    assert page == [] and memory.count_sessions(session_name="NAMED") == 1
    assert [s.session_id for s in memory.get_sessions(sort_by="session_id", sort_order="desc")] == [
        "s3",
        "s2",
        "s1",
    ]
    assert [r.run_id for r in memory.list_runs("s1", statuses=["COMPLETED"])] == ["t1", "m1", "r2"]
    lone = memory.get_session("s1", with_runs=False)
    assert lone is not None and lone.runs == [] and memory.get_session("s1").usage is not None  # type: ignore[union-attr]
    assert memory.create_session("s4", "team") is True and memory.create_session("s4", "agent") is False
    assert memory.delete_sessions(["s3", "s4", "nope"]) == 2
    assert memory.delete_session("s1") is True
    assert memory.get_run("m1") is None and memory.get_session("s1") is None


def test_instances_are_separate_stores(memory: InMemoryDb) -> None:
    other = InMemoryDb()
    try:
        memory.save_run(agent_run("r1", 1))
        assert other.get_run("r1") is None  # created on its driver's first call
        assert other.actor_name != memory.actor_name
    finally:
        kill(other)


def test_pickles_as_its_name_only(memory: InMemoryDb) -> None:
    memory.save_run(agent_run("r1", 1))
    copy = pickle.loads(pickle.dumps(memory))
    assert copy.__getstate__() == {"actor_name": memory.actor_name, "timeout": memory.timeout}
    assert copy.key == memory.key
    assert memory.actor_name.startswith("kern:db:memory:")
    assert memory.description == f"in-memory database (Ray actor {memory.actor_name})"
    assert copy.get_run("r1") is not None


def test_driver_and_ray_workers_share_the_store(memory: InMemoryDb) -> None:
    @ray.remote(num_cpus=0)
    def save_then_read(db: InMemoryDb, driver_run_id: str) -> tuple[str | None, bool]:
        db.save_run(RunOutput(run_id="from-task", agent_id="a", agent_name="A", session_id="s1"))
        found = db.get_run(driver_run_id)
        return (found.content if found else None), db.update_session("s1", session_state={"by": "task"})

    @ray.remote(num_cpus=0)
    class Reader:
        def __init__(self, db: InMemoryDb) -> None:
            self.db = db

        def state(self, session_id: str) -> dict[str, object] | None:
            return self.db.get_session_state(session_id)

    memory.save_run(agent_run("from-driver", 1, content="driver's answer"))
    content, updated = ray.get(save_then_read.remote(memory, "from-driver"), timeout=60)
    assert (content, updated) == ("driver's answer", True)
    task_run = memory.get_run("from-task")
    assert task_run is not None and task_run.agent_id == "a"

    reader_actor = Reader.remote(memory)  # type: ignore[attr-defined]
    try:
        assert ray.get(reader_actor.state.remote("s1"), timeout=60) == {"by": "task"}
        memory.update_session("s1", session_state={"by": "driver"})
        assert ray.get(reader_actor.state.remote("s1"), timeout=60) == {"by": "driver"}
    finally:
        ray.kill(reader_actor)


def test_writer_and_reader_threads_use_it(memory: InMemoryDb) -> None:
    async def main() -> RunOutput | None:
        result = await writer.save(memory, agent_run("w1", 1), wait=30)
        assert result.problem is None
        return await reader.read(memory, lambda db: db.get_run("w1"), wait=30)

    got = asyncio.run(main())
    assert got is not None and got.run_id == "w1"


def test_a_killed_store_is_an_error_naming_it(memory: InMemoryDb) -> None:
    memory.save_run(agent_run("r1", 1))
    copy = pickle.loads(pickle.dumps(memory))
    kill(memory)

    @ray.remote(num_cpus=0)
    def read_in_worker(db: InMemoryDb) -> str:
        try:
            db.get_run("r1")
        except DatabaseError as exc:
            return str(exc)
        return "no error"

    started = time.monotonic()
    for db in (memory, copy):
        with pytest.raises(DatabaseError) as info:
            db.get_run("r1")
        assert memory.actor_name in str(info.value) and "gone" in str(info.value)
        assert "\n" not in str(info.value) and not info.value.transient
    in_worker = ray.get(read_in_worker.remote(memory), timeout=60)
    assert memory.actor_name in in_worker and "gone" in in_worker
    assert time.monotonic() - started < 30


def test_a_store_that_does_not_answer_times_out() -> None:
    @ray.remote(num_cpus=0)
    class Frozen:
        def call(self, *_: object) -> None:
            time.sleep(60)

    db = InMemoryDb(timeout=0.5)
    frozen = Frozen.options(name=db.actor_name, namespace=NAMESPACE).remote()  # type: ignore[attr-defined]
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseError, match=r"no answer within 0\.5 s") as info:
            db.get_session("s1")
        assert info.value.transient and db.actor_name in str(info.value)
        assert time.monotonic() - started < 10
    finally:
        ray.kill(frozen)
