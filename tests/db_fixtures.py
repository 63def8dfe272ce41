"""Fixtures: a fresh database per test, on SQLite (a temporary file) and on PostgreSQL (its own schema).

PostgreSQL comes from `KERN_TEST_POSTGRES_URL`, or else from `scripts/postgres.sh`, run once per session.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kern.db import BaseDb, PostgresDb, SqliteDb

REPO = Path(__file__).resolve().parents[1]
POSTGRES_SCRIPT = REPO / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL (postgresql://...)."""
    url = os.environ.get("KERN_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        done = subprocess.run(
            ["bash", str(POSTGRES_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{POSTGRES_SCRIPT} timed out: {exc}")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        pytest.fail(f"{POSTGRES_SCRIPT} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return lines[-1].strip()


@pytest.fixture
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], BaseDb]]:
    """`make_db(kind)`: a new empty database of that kind ("sqlite" or "postgres"), cleaned up after."""
    made: list[BaseDb] = []
    schemas: list[tuple[str, str]] = []

    def make(kind: str) -> BaseDb:
        db: BaseDb
        if kind == "sqlite":
            db = SqliteDb(str(tmp_path / f"db{len(made)}" / "kern.db"))
        else:
            url = request.getfixturevalue("postgres_url")
            schema = f"kt_{uuid.uuid4().hex[:16]}"
            schemas.append((url, schema))
            db = PostgresDb(url, db_schema=schema)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()
    for url, schema in schemas:
        engine = create_engine(PostgresDb(url).db_url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, make_db: Callable[[str], BaseDb]) -> BaseDb:
    """A new empty database, once per backend."""
    return make_db(request.param)
