"""Storage of runs and sessions: SQLite, PostgreSQL or in memory, under Agno's names."""

from kern.db.base import BaseDb, DatabaseError, SessionRecord
from kern.db.postgres import AsyncPostgresDb, PostgresDb
from kern.db.sqlite import AsyncSqliteDb, SqliteDb
from kern.db.url import db_from_url, default_db

__all__ = [
    "AsyncPostgresDb",
    "AsyncSqliteDb",
    "BaseDb",
    "DatabaseError",
    "InMemoryDb",
    "PostgresDb",
    "SessionRecord",
    "SqliteDb",
    "db_from_url",
    "default_db",
]


def __getattr__(name: str) -> object:
    """`InMemoryDb` on first use: it is a Ray actor, and storage alone does not import Ray."""
    if name == "InMemoryDb":
        from kern.db.in_memory import InMemoryDb

        return InMemoryDb
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
