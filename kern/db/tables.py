"""The two tables kern stores runs in: one row per session, one row per run (members included)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Connection, Double, Index, MetaData, String, Table, inspect, text
from sqlalchemy.dialects.postgresql import JSONB

DEFAULT_SESSION_TABLE = "kern_sessions"
DEFAULT_RUN_TABLE = "kern_runs"


@dataclass(frozen=True)
class Tables:
    """A `MetaData` holding the session and run tables of one database."""

    metadata: MetaData
    sessions: Table
    runs: Table


def build_tables(
    session_table: str = DEFAULT_SESSION_TABLE,
    run_table: str = DEFAULT_RUN_TABLE,
    schema: str | None = None,
) -> Tables:
    """Describe the tables (in `schema` when given); nothing is created here."""
    metadata = MetaData(schema=schema)
    sessions = Table(
        session_table,
        metadata,
        Column("session_id", String, primary_key=True),
        Column("session_type", String(16), nullable=False),
        Column("component_id", String, nullable=False, index=True),
        Column("user_id", String, index=True),
        Column("created_at", Double, nullable=False, index=True),
        Column("updated_at", Double, nullable=False, index=True),
        Column("session_name", String),
        Column("session_state", _json(none_as_null=True)),
    )
    runs = Table(
        run_table,
        metadata,
        Column("run_id", String, primary_key=True),
        Column("session_id", String),
        Column("parent_run_id", String, index=True),
        Column("component_type", String(16), nullable=False),
        Column("component_id", String, nullable=False, index=True),
        Column("user_id", String, index=True),
        Column("status", String(16), nullable=False),
        Column("created_at", Double, nullable=False),
        Column("updated_at", Double, nullable=False),
        Column("data", _json(), nullable=False),
        Index(f"ix_{run_table}_session_created", "session_id", "created_at"),
    )
    return Tables(metadata=metadata, sessions=sessions, runs=runs)


def upgrade_tables(conn: Connection, tables: Tables) -> None:
    """Add the columns and indexes that tables made by an older kern lack (columns added since are all
    nullable)."""
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer
    for table in (tables.sessions, tables.runs):
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name not in present:
                name, kind = quote.format_column(column), column.type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {name} {kind}"))
        indexed = {index["name"] for index in inspector.get_indexes(table.name, schema=table.schema)}
        for index in table.indexes:
            if index.name not in indexed:
                index.create(conn)


def _json(*, none_as_null: bool = False) -> JSON:
    """JSON, stored as JSONB on PostgreSQL; with `none_as_null`, None is SQL NULL rather than JSON null."""
    return JSON(none_as_null=none_as_null).with_variant(JSONB(none_as_null=none_as_null), "postgresql")
