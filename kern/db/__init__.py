"""Storage of runs and sessions: SQLite, PostgreSQL or in memory, under Agno's names."""

from kern.db.base import BaseDb, DatabaseError, SessionRecord
from kern.db.in_memory import InMemoryDb
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
