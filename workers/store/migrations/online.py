"""Schema changes a live database takes while the previous release's workers keep working (expand, then contract
in a later release). On PostgreSQL an index is built CONCURRENTLY, outside any transaction, so writers are never
blocked for the minutes a large table takes; a build that was cut off (a lock timeout, a crash) left an INVALID
index, which the next run drops and builds again. SQLite, a single machine's database, builds it in place."""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import text


def create_index(name: str, table: str, columns: list[str], where: str | None = None) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        kwargs: dict[str, Any] = {"sqlite_where": text(where)} if where else {}
        op.create_index(name, table, columns, **kwargs)
        return
    with op.get_context().autocommit_block():
        valid = bind.execute(
            text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"),  # on the search path
            {"n": name},
        ).scalar()
        if valid is True:
            return
        if valid is False:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.execute("SET statement_timeout = 0")  # a build on a large table takes what it takes; it blocks nobody
        try:
            predicate = f" WHERE {where}" if where else ""
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} ({', '.join(columns)}){predicate}")
        finally:
            op.execute("RESET statement_timeout")


def drop_index(name: str, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
