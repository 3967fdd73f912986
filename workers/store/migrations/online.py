"""Schema changes a live database takes while the previous release's workers keep working (expand, then contract
in a later release).

On PostgreSQL a table of CONCURRENTLY_FROM_BYTES or more gets its index CONCURRENTLY, outside any transaction:
writers are never blocked for the minutes a large table takes. Such a build holds no lock a photo's statement
waits for, so it waits for the transactions before it as long as they last (no lock or statement timeout); one
that was cut off (a crash, a deploy stopped) left an INVALID index, which the next run drops and builds again. A
smaller table is indexed in place, in the migration's transaction, in milliseconds (and under its lock timeout):
a concurrent build waits for every transaction in the database, and two at once on partial indexes wait for
each other. SQLite, a single machine's database, builds in place.
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import text

CONCURRENTLY_FROM_BYTES = 1 << 20  # a megabyte of table: a plain build takes milliseconds below it


def create_index(
    name: str, table: str, columns: list[str], where: str | None = None, include: tuple[str, ...] = ()
) -> None:
    """`include`: columns carried in the index (PostgreSQL only) so that a count by them reads no table."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        kwargs: dict[str, Any] = {"sqlite_where": text(where)} if where else {}
        op.create_index(name, table, columns, **kwargs)
        return
    valid = bind.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)"), {"n": name})
    state = valid.scalar()
    if state is True:
        return
    size = bind.execute(text("SELECT pg_relation_size(to_regclass(:t))"), {"t": table}).scalar()
    predicate = f" WHERE {where}" if where else ""
    carried = f" INCLUDE ({', '.join(include)})" if include else ""
    ddl = f"INDEX {name} ON {table} ({', '.join(columns)}){carried}{predicate}"
    if (size or 0) < CONCURRENTLY_FROM_BYTES:
        if state is False:
            op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE {ddl}")
        return
    with op.get_context().autocommit_block():
        before = {s: bind.execute(text(f"SHOW {s}")).scalar() for s in ("lock_timeout", "statement_timeout")}
        op.execute("SET lock_timeout = 0")
        op.execute("SET statement_timeout = 0")
        try:
            if state is False:
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE {ddl.replace('INDEX ', 'INDEX CONCURRENTLY ', 1)}")
        finally:
            for setting, value in before.items():
                op.execute(f"SET {setting} = '{value}'")


def drop_index(name: str, table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    op.execute(f"DROP INDEX IF EXISTS {name}")
