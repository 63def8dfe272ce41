"""Bad configuration fails with a clear DatabaseError; URL forms; the PostgreSQL helper script."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kern.db import DatabaseError, PostgresDb, SqliteDb
from kern.db.postgres import AsyncPostgresDb
from kern.db.sqlite import AsyncSqliteDb
from kern.run.agent import RunOutput

POSTGRES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    ["not a url", "postgresql://kern:secret@localhost:notaport/db", "postgresql://kern:secret@h:70000/db"],
)
def test_malformed_url_fails_at_construction(url: str) -> None:
    with pytest.raises(DatabaseError, match="malformed PostgreSQL URL") as info:
        PostgresDb(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["mysql://kern:secret@localhost/db", "postgresql+psycopg2://kern:secret@localhost/db"]
)
def test_unsupported_driver_fails_at_construction(url: str) -> None:
    with pytest.raises(DatabaseError, match="unsupported PostgreSQL URL") as info:
        PostgresDb(url)
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_unreachable_server_fails_at_first_use_naming_host_and_port() -> None:
    port = free_port()
    db = PostgresDb(f"postgresql://kern:secret@127.0.0.1:{port}/kern_test")  # no error yet
    started = time.monotonic()
    with pytest.raises(DatabaseError) as info:
        db.get_sessions()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "PostgreSQL" in message
    assert "secret" not in message
    with pytest.raises(DatabaseError):  # and again, not a half-open state
        db.save_run(RunOutput(run_id="r", agent_id="a", agent_name="A"))


def test_silent_server_times_out() -> None:
    """A server that accepts TCP but never answers: bounded by connect_timeout, no hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        db = PostgresDb(f"postgresql://kern:kern@127.0.0.1:{port}/kern_test", connect_timeout=2)
        started = time.monotonic()
        with pytest.raises(DatabaseError, match=f"127.0.0.1:{port}"):
            db.get_run("r")
        assert time.monotonic() - started < 10


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    schema = f"kt_{uuid.uuid4().hex[:16]}"
    yield schema
    engine = create_engine(PostgresDb(postgres_url).db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg_async"]
)
def test_url_forms_all_use_psycopg(postgres_url: str, pg_schema: str, scheme: str) -> None:
    url = make_url(postgres_url).set(drivername=scheme).render_as_string(hide_password=False)
    db = PostgresDb(url, db_schema=pg_schema)
    assert db.db_url.startswith("postgresql+psycopg://")
    assert "***" in repr(db) and ":kern@" not in repr(db)
    db.save_run(RunOutput(run_id="r", agent_id="a", agent_name="A", session_id="s"))
    assert db.get_run("r") is not None
    db.close()


def test_agno_async_names_are_the_same_databases(tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    """kern stores off the event loop already: Agno's async classes are the sync ones under their names."""
    lite = AsyncSqliteDb(db_file=str(tmp_path / "agno" / "async.db"), session_table="s", run_table="r")
    assert isinstance(lite, SqliteDb) and lite.db_file == str(tmp_path / "agno" / "async.db")
    lite.save_run(RunOutput(run_id="r", agent_id="a", agent_name="A", session_id="s", session_state={"k": 1}))
    assert lite.get_run("r") is not None and lite.get_session_state("s") == {"k": 1}
    assert (tmp_path / "agno" / "async.db").is_file()
    lite.close()

    url = make_url(postgres_url).set(drivername="postgresql+psycopg_async").render_as_string(False)
    pg = AsyncPostgresDb(db_url=url, db_schema=pg_schema, session_table="s", run_table="r")
    assert isinstance(pg, PostgresDb) and pg.db_url.startswith("postgresql+psycopg://")
    pg.save_run(RunOutput(run_id="r", agent_id="a", agent_name="A", session_id="s"))
    assert pg.get_session("s") is not None
    pg.close()


def test_sqlite_path_under_a_file_fails_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = blocker / "sub" / "kern.db"
    db = SqliteDb(str(path))
    with pytest.raises(DatabaseError, match="cannot open SQLite database") as info:
        db.get_sessions()
    assert str(path) in str(info.value)


def test_sqlite_path_that_is_a_directory_fails_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as info:
        SqliteDb(str(tmp_path)).save_run(RunOutput(run_id="r", agent_id="a", agent_name="A"))
    assert str(tmp_path) in str(info.value)


def test_sqlite_file_that_is_not_a_database_fails(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a sqlite file" * 100)
    with pytest.raises(DatabaseError, match=r"junk\.db"):
        SqliteDb(str(path)).get_sessions()


def test_sqlite_creates_its_folder_and_resolves_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = SqliteDb("data/nested/agents.db")
    assert db.db_file == str(tmp_path / "data" / "nested" / "agents.db")
    monkeypatch.chdir("/")
    db.save_run(RunOutput(run_id="r", agent_id="a", agent_name="A"))
    assert (tmp_path / "data" / "nested" / "agents.db").is_file()
    assert SqliteDb().db_file == os.path.abspath("kern.db")
    db.close()


@pytest.mark.skipif(bool(os.environ.get("KERN_TEST_POSTGRES_URL")), reason="tests use an external server")
def test_postgres_script_is_idempotent(postgres_url: str) -> None:
    started = time.monotonic()
    done = subprocess.run(["bash", str(POSTGRES_SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == postgres_url
    assert time.monotonic() - started < 10
