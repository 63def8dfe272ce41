"""Pick a database from a URL, and the process default from `KERN_DB_URL`."""

from __future__ import annotations

import os

from kern.db.base import BaseDb, DatabaseError

__all__ = ["DB_URL_VARIABLE", "db_from_url", "default_db", "mask_password"]

DB_URL_VARIABLE = "KERN_DB_URL"


def db_from_url(url: str) -> BaseDb:
    """`sqlite:///path/to/file.db` -> `SqliteDb`; `postgresql://...` -> `PostgresDb`."""
    from kern.db.postgres import PostgresDb  # SQLAlchemy: imported only where a database is used
    from kern.db.sqlite import SqliteDb

    if url.startswith("sqlite:///"):
        return SqliteDb(db_file=url.removeprefix("sqlite:///"))
    if url.startswith(
        ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg_async://")
    ):
        return PostgresDb(db_url=url)
    raise DatabaseError(f"Unsupported database URL {url!r}: use sqlite:///FILE or postgresql://...")


def default_db() -> BaseDb | None:
    """The database named by `KERN_DB_URL`, used by agents and teams built without `db=`."""
    url = os.environ.get(DB_URL_VARIABLE)
    return db_from_url(url) if url else None


def mask_password(db_url: str) -> str:
    """The URL with its password replaced by *** (`kern.db.postgres.mask_password`)."""
    from kern.db.postgres import mask_password as mask

    return mask(db_url)
