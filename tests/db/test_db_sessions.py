"""Session-level data (name, state) on SQLite and PostgreSQL, and tables made by an older kern (which
get the columns and indexes added since)."""

from __future__ import annotations

import os
import time

from sqlalchemy import Column, Double, MetaData, String, Table, create_engine, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateSchema

from kern.db import BaseDb, PostgresDb, SqliteDb
from kern.run.base import RunStatus
from tests.db.test_db_store import agent_run, team_run


def test_a_top_level_runs_state_becomes_the_sessions(db: BaseDb) -> None:
    db.save_run(agent_run("r1", 1, session_state={"step": 1, "items": ["a"]}))
    assert db.get_session_state("s1") == {"step": 1, "items": ["a"]}
    record = db.get_session("s1")
    assert record is not None and record.session_state == {"step": 1, "items": ["a"]}
    assert [s.session_state for s in db.get_sessions()] == [{"step": 1, "items": ["a"]}]

    db.save_run(agent_run("r2", 2))  # no state: the session keeps its own
    assert db.get_session_state("s1") == {"step": 1, "items": ["a"]}
    db.save_run(agent_run("m1", 3, parent_run_id="r2", session_state={"member": True}))  # not top level
    assert db.get_session_state("s1") == {"step": 1, "items": ["a"]}
    db.save_run(team_run("t1", 4, [], session_state={"step": 2}))
    assert db.get_session_state("s1") == {"step": 2}
    db.save_run(agent_run("r3", 5, session_state={}))
    assert db.get_session_state("s1") == {}


def test_the_last_save_sets_the_state_even_a_stale_one(db: BaseDb) -> None:
    """Simple last write: a late RUNNING save of an earlier run puts back its state (documented)."""
    db.save_run(agent_run("r2", 2, session_state={"by": "r2"}))
    db.save_run(agent_run("r1", 1, status=RunStatus.running, session_state={"by": "r1"}))
    assert db.get_session_state("s1") == {"by": "r1"}


def test_in_one_batch_the_last_run_with_a_state_sets_it(db: BaseDb) -> None:
    db.save_runs(
        [
            agent_run("r1", 1, session_state={"n": 1}),
            agent_run("r2", 0, session_state={"n": 2}),
            agent_run("r3", 3),
            agent_run("x1", 1, session_id="s2", session_state={"other": True}),
        ]
    )
    assert db.get_session_state("s1") == {"n": 2}
    assert db.get_session_state("s2") == {"other": True}
    record = db.get_session("s1")
    assert record is not None and [r.run_id for r in record.runs] == ["r2", "r1", "r3"]


def test_update_session(db: BaseDb) -> None:
    assert db.get_session_state("nope") is None
    assert db.update_session("nope", session_name="x", session_state={"a": 1}) is False
    assert db.get_session("nope") is None

    db.save_run(agent_run("r1", 1))
    assert db.get_session_state("s1") is None
    before = db.get_session("s1")
    assert before is not None and before.session_name is None

    time.sleep(0.01)
    assert db.update_session("s1", session_name="Trip planning") is True
    assert db.update_session("s1", session_state={"city": "Oslo"}) is True
    after = db.get_session("s1")
    assert after is not None
    assert (after.session_name, after.session_state) == ("Trip planning", {"city": "Oslo"})
    assert after.updated_at > before.updated_at
    assert [r.run_id for r in after.runs] == ["r1"]

    assert db.update_session("s1", session_state={}) is True  # {} empties, None leaves as is
    assert db.update_session("s1") is True
    final = db.get_session("s1")
    assert final is not None and (final.session_name, final.session_state) == ("Trip planning", {})


def test_upsert_session_creates_an_empty_session_then_runs_join_it(db: BaseDb) -> None:
    db.upsert_session("s1", "agent", "agent-1", "u1", session_state={"cart": []})
    record = db.get_session("s1")
    assert record is not None
    assert (record.session_type, record.component_id, record.user_id) == ("agent", "agent-1", "u1")
    assert (record.session_state, record.session_name, record.runs) == ({"cart": []}, None, [])

    db.upsert_session("s1", "team", "other", "u2", session_name="Shopping")  # keeps who it belongs to
    record = db.get_session("s1")
    assert record is not None
    assert (record.session_type, record.component_id, record.user_id) == ("agent", "agent-1", "u1")
    assert (record.session_name, record.session_state) == ("Shopping", {"cart": []})

    db.save_run(agent_run("r1", 1))
    db.save_run(agent_run("r2", 2, session_state={"cart": ["apple"]}))
    record = db.get_session("s1")
    assert record is not None and [r.run_id for r in record.runs] == ["r1", "r2"]
    assert (record.session_name, record.session_state) == ("Shopping", {"cart": ["apple"]})

    assert db.delete_session("s1") is True
    assert db.get_session_state("s1") is None


# ----- tables of an older kern -----------------------------------------------------------------------


def old_tables(db: BaseDb) -> Table:
    """The tables as kern made them before sessions had a name and a state; returns the sessions'."""
    assert isinstance(db, SqliteDb | PostgresDb)
    metadata = MetaData(schema=db.db_schema)
    data = Column("data", String().with_variant(JSONB(), "postgresql"), nullable=False)
    sessions = Table(
        db.session_table,
        metadata,
        Column("session_id", String, primary_key=True),
        Column("session_type", String(16), nullable=False),
        Column("component_id", String, nullable=False),
        Column("user_id", String),
        Column("created_at", Double, nullable=False),
        Column("updated_at", Double, nullable=False),
    )
    Table(
        db.run_table,
        metadata,
        Column("run_id", String, primary_key=True),
        Column("session_id", String),
        Column("parent_run_id", String),
        Column("component_type", String(16), nullable=False),
        Column("component_id", String, nullable=False),
        Column("user_id", String),
        Column("status", String(16), nullable=False),
        Column("created_at", Double, nullable=False),
        Column("updated_at", Double, nullable=False),
        data,
    )
    return sessions


def test_tables_of_an_older_kern_get_the_new_columns(db: BaseDb) -> None:
    assert isinstance(db, SqliteDb | PostgresDb)
    if isinstance(db, SqliteDb):
        os.makedirs(os.path.dirname(db.db_file), exist_ok=True)
        engine = create_engine(f"sqlite:///{db.db_file}", poolclass=NullPool)
    else:
        engine = create_engine(db.db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if db.db_schema is not None:
                conn.execute(CreateSchema(db.db_schema))
            sessions = old_tables(db)
            sessions.metadata.create_all(conn)
            row = {"session_type": "agent", "component_id": "agent-1", "user_id": "u1"}
            conn.execute(sessions.insert().values(session_id="old", created_at=1, updated_at=2, **row))
    finally:
        engine.dispose()

    old = db.get_session("old")  # opening the db adds the columns
    assert old is not None and (old.session_name, old.session_state, old.runs) == (None, None, [])
    assert db.update_session("old", session_name="From before", session_state={"kept": True}) is True
    db.save_run(agent_run("r1", 1, session_state={"new": 1}))
    assert db.get_session_state("s1") == {"new": 1}
    assert db.get_session_state("old") == {"kept": True}
    assert db.get_run("r1") is not None

    with db.engine.connect() as conn:
        columns = {
            c["name"]: c["type"] for c in inspect(conn).get_columns(db.session_table, schema=db.db_schema)
        }
        indexes = inspect(conn).get_indexes(db.session_table, schema=db.db_schema)
    assert {"session_name", "session_state"} <= set(columns)
    assert ["created_at"] in [index["column_names"] for index in indexes], "sorting by created_at is indexed"
    if isinstance(db, PostgresDb):
        assert isinstance(columns["session_state"], JSONB)
    db.close()
    reopened = type(db).__new__(type(db))
    reopened.__setstate__(db.__getstate__())
    assert reopened.get_session_state("old") == {"kept": True}  # a second opening adds nothing
    reopened.close()
