"""Storage of runs and sessions: SQLite, PostgreSQL or in memory, under Agno's names.

The SQL backends (SQLAlchemy: ~15 MiB and ~0.5 s of imports) load on first use, so a process that stores
nothing, such as an agent's actor without a database, never imports them.
"""

from typing import TYPE_CHECKING

from kern.db.base import BaseDb, DatabaseError, SessionRecord

if TYPE_CHECKING:
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

_LAZY = {
    "AsyncPostgresDb": "kern.db.postgres",
    "PostgresDb": "kern.db.postgres",
    "AsyncSqliteDb": "kern.db.sqlite",
    "SqliteDb": "kern.db.sqlite",
    "InMemoryDb": "kern.db.in_memory",  # a Ray actor: storage alone does not import Ray
    "db_from_url": "kern.db.url",
    "default_db": "kern.db.url",
}


def __getattr__(name: str) -> object:
    """The SQL backends, `InMemoryDb` and the URL helpers, imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
