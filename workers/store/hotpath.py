"""The hot paths on the database driver itself: a photo's steps (the grant read, begin_attempt, record_upload)
and ingest's insert of new submissions. Everything else in the store goes through SQLAlchemy.

Here SQLAlchemy's work around each execution cost more than the statements: a statement is compiled once
(`Prepared`) and run on a pooled driver connection, with what SQLAlchemy would add done here. `Prepared` reads
SQLAlchemy's compiled form (its bind and result processors): tests/workers/store/test_hotpath.py pins that
behaviour against SQLAlchemy's own execution, on SQLite and PostgreSQL, so an upgrade that changes it fails there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from workers.store import grants, items
from workers.store.db import Database, translated
from workers.store.items import BatchWait
from workers.store.models import Grant, Item, utcnow
from workers.store.sealed import ITEM_UPLOAD
from workers.store.vault import Vault


class Prepared:
    """A Core statement compiled once for one dialect, to run on the driver itself (`transaction`): the
    per-photo statements, where SQLAlchemy's work around each execution (pool checkout and reset, cache key,
    parameter and result processing) cost several times the statement (docs/benchmarks.md). What
    SQLAlchemy would add is done here too: the statement's constants, the columns' Python `onupdate` values, and
    each type's bind and result conversion (SQLite keeps datetimes as text)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self.order = tuple(compiled.positiontup or ()) if dialect.positional else None
        self.fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self.asked = tuple(name for name, bind in compiled.binds.items() if bind.required)
        self.onupdate = [(column.key, column.onupdate.arg) for column in compiled.update_prefetch]  # type: ignore[union-attr]
        processors = compiled._bind_processors  # noqa: SLF001 - what SQLAlchemy itself applies
        self.binds = {
            name: cast(Callable[[Any], Any], processors[name]) for name in compiled.binds if name in processors
        }
        columns = compiled._result_columns  # noqa: SLF001
        self.names = tuple(str(column[0]) for column in columns)
        self.results = [column[3]._cached_result_processor(dialect, None) for column in columns]  # noqa: SLF001

    def parameters(self, given: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = {**self.fixed, **{name: given[name] for name in self.asked}}
        for key, make in self.onupdate:
            values[key] = make(None)
        for name, convert in self.binds.items():
            values[name] = convert(values[name])
        return [values[name] for name in self.order] if self.order is not None else values

    def rows(self, found: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return [tuple(row) for row in found]
        return [tuple(p(v) if p else v for p, v in zip(self.results, row, strict=True)) for row in found]


class Driver:
    """Statements on a pooled driver connection: one transaction (`transaction`) or one statement (`statement`)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def run(self, prepared: Prepared, **given: Any) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(prepared.sql, prepared.parameters(given))
        return prepared.rows(cursor.fetchall()) if cursor.description else []

    def first(self, prepared: Prepared, **given: Any) -> dict[str, Any] | None:
        """The first row, by column name, or None."""
        rows = self.run(prepared, **given)
        return dict(zip(prepared.names, rows[0], strict=True)) if rows else None


@contextlib.contextmanager
def _raw(db: Database) -> Iterator[Any]:
    """A pooled driver connection (checked, and reset when it goes back), its errors translated as SQLAlchemy's."""
    engine = db.engine
    dbapi_error = engine.dialect.loaded_dbapi.Error
    with translated():
        try:
            pooled = engine.raw_connection()  # the pool's connect raises the driver's own errors
        except dbapi_error as exc:
            raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
        try:
            yield pooled.driver_connection
        except dbapi_error as exc:
            # As SQLAlchemy's own path does: a connection the server dropped (a restart) leaves the pool, and the
            # error says so, so the work tries again at once on a new one (errors.Outage.reconnect).
            gone = engine.dialect.is_disconnect(exc, pooled.driver_connection, None)
            if gone:
                pooled.invalidate(exc)
            raise DBAPIError.instance(None, None, exc, dbapi_error, connection_invalidated=gone) from exc
        finally:
            pooled.close()


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[Driver]:
    """One transaction on the driver, for statements made with `prepared`."""
    with _raw(db) as connection:
        try:
            yield Driver(connection)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise


@contextlib.contextmanager
def statement(db: Database) -> Iterator[Driver]:
    """One statement committed on its own (autocommit): no BEGIN and COMMIT, two round trips fewer."""
    with _raw(db) as connection:
        _set_autocommit(connection, True)
        try:
            yield Driver(connection)
        finally:
            _set_autocommit(connection, False)


@functools.cache
def prepared(db: Database, statement: ClauseElement) -> Prepared:
    """The statement compiled once for db's dialect (a handful per process)."""
    return Prepared(statement, db.engine.dialect)


# --- a photo's steps ------------------------------------------------------------------------------------------


def grant(db: Database, sub: str) -> Grant | None:
    """The grant, read on the driver (once per photo: tokens.access_for), detached from any session."""
    with statement(db) as d:
        row = d.first(prepared(db, grants.GET), sub=sub)
    return Grant(**row) if row is not None else None


def begin_attempt(db: Database, item_id: str) -> Item | None:
    """The item with this delivery counted; None if it is finished, gone, or held for its turn (a stray copy of
    its message: it is sent when its turn comes)."""
    with statement(db) as d:
        row = d.first(prepared(db, items.BEGIN_ATTEMPT), item_id=item_id)
    return Item(**row) if row is not None else None


def record_upload(
    db: Database, vault: Vault, item: Item, upload_token: str, input_bytes: int, output_bytes: int, release: int = 0
) -> BatchWait:
    """The upload token (sealed) and the sizes; then, in the same transaction, what waits for the user's batch,
    and up to `release` of the user's held items released (as items.release does) while more are coming."""
    sealed = ITEM_UPLOAD.seal(vault, item.id, upload_token)
    at = utcnow()
    values = {"item_id": item.id, "sealed": sealed, "at": at, "input_bytes": input_bytes}
    with transaction(db) as d:
        if not d.run(prepared(db, items.RECORD_UPLOAD), **values, output_bytes=output_bytes):
            return BatchWait(uploaded=0, coming=False)  # another delivery recorded it first: nothing to ask
        waiting = items.batch_wait_of(d.run(prepared(db, items.BATCH_WAIT), sub=item.sub)[0])
        if not (release and waiting.coming):  # no statement after a user's last photo
            return waiting if not waiting.coming else _after_commit(db, item.sub, waiting)
        released = d.run(prepared(db, items.RELEASE), user=item.sub, n=release, at=at)
        waiting = dataclasses.replace(waiting, released=tuple(item_id for (item_id,) in released))
    return _after_commit(db, item.sub, waiting)


def _after_commit(db: Database, sub: str, waiting: BatchWait) -> BatchWait:
    """What waits for the batch, read again once the upload is committed, when more seemed to be coming. On
    PostgreSQL two last uploads committing side by side each see the other still coming (READ COMMITTED), and
    neither would ask for the batch; read after its own commit, the later of the two sees both uploaded."""
    if not db.is_postgres:
        return waiting  # SQLite has one writer: the last upload's transaction saw every other
    with statement(db) as d:
        again = items.batch_wait_of(d.run(prepared(db, items.BATCH_WAIT), sub=sub)[0])
    return dataclasses.replace(again, released=waiting.released)


# --- ingest ---------------------------------------------------------------------------------------------------


def insert_many_new(db: Database, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """INSERT rows (values in `columns` order) ... ON CONFLICT DO NOTHING RETURNING the key of each new row: one
    atomic statement, committed on its own (no BEGIN and COMMIT around it).

    PostgreSQL takes one array per column through unnest(), in psycopg's binary format (%b: no quoting of every
    element), so the statement text never changes and psycopg caches it; SQLite takes one VALUES tuple per row.
    SQLAlchemy's executemany would build and parse a statement with a parameter per value, and wrap every row."""
    if not rows:
        return []
    sql, processors = _insert_many_sql(db, table, columns, 0 if db.is_postgres else len(rows))
    converted = [[p(v) if p else v for p, v in zip(processors, row, strict=True)] for row in rows]
    if db.is_postgres:
        params: Sequence[Any] = [list(column) for column in zip(*converted, strict=True)]
    else:
        params = [value for row in converted for value in row]
    with statement(db) as d:
        return [row[0] for row in d.connection.execute(sql, params).fetchall()]


@functools.cache
def _insert_many_sql(db: Database, table: Table, columns: tuple[str, ...], count: int) -> tuple[str, list[Any]]:
    """A handful per process: (table, columns, row count on SQLite)."""
    dialect = db.engine.dialect
    types = [table.columns[name].type for name in columns]
    processors = [t.bind_processor(dialect) for t in types]
    (key,) = table.primary_key.columns
    names = ", ".join(columns)
    if db.is_postgres:
        arrays = ", ".join(f"CAST(%b AS {t.compile(dialect=dialect)}[])" for t in types)
        source = f"SELECT * FROM unnest({arrays})"
    else:
        source = "VALUES " + ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * count)
    sql = f"INSERT INTO {table.name} ({names}) {source} ON CONFLICT DO NOTHING RETURNING {key.name}"
    return sql, processors


def _set_autocommit(driver: Any, on: bool) -> None:
    if isinstance(driver, sqlite3.Connection):
        driver.isolation_level = None if on else ""  # type: ignore[assignment] # "": BEGIN before a change
    else:
        driver.autocommit = on  # psycopg
