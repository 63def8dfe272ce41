"""Storage of runs and sessions: SQLite or PostgreSQL, Agno's `SqliteDb` / `PostgresDb` names."""

from kern.db.base import BaseDb, DatabaseError, SessionRecord
from kern.db.postgres import PostgresDb
from kern.db.sqlite import SqliteDb
from kern.db.url import db_from_url, default_db

__all__ = ["BaseDb", "DatabaseError", "PostgresDb", "SessionRecord", "SqliteDb", "db_from_url", "default_db"]
