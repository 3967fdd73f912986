"""The hot paths on the database driver itself: a photo's steps (begin_attempt with the grant read,
record_upload) and ingest's insert of new submissions. Everything else in the store goes through SQLAlchemy.

Here SQLAlchemy's work around each execution cost more than the statements: a statement is compiled once
(`Prepared`) and run on a pooled driver connection, with what SQLAlchemy would add done here. `Prepared` reads
SQLAlchemy's compiled form (its bind and result processors): tests/workers/store/test_hotpath.py pins that
behaviour against SQLAlchemy's own execution, on SQLite and PostgreSQL, so an upgrade that changes it fails there.

With the database a network away, a photo's time went to waiting on it: each statement, BEGIN and COMMIT was a
round trip. A photo's steps now send their statements in psycopg's pipeline mode (`pipelined`): begin_attempt
waits once, record_upload twice (tests/workers/store/test_round_trips.py counts them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sqlite3
import sys
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
    """A Core statement compiled once for one dialect, to run on the driver itself (`pipelined`, `statement`): the
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

    def first(self, rows: Sequence[tuple[Any, ...]]) -> dict[str, Any] | None:
        """The first of `rows` (as `rows` made them), by column name, or None."""
        return dict(zip(self.names, rows[0], strict=True)) if rows else None


class Driver:
    """Statements on a pooled driver connection, each committed on its own (`statement`)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def run(self, prepared: Prepared, **given: Any) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(prepared.sql, prepared.parameters(given))
        return prepared.rows(cursor.fetchall()) if cursor.description else []

    def first(self, prepared: Prepared, **given: Any) -> dict[str, Any] | None:
        """The first row, by column name, or None."""
        return prepared.first(self.run(prepared, **given))


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
def statement(db: Database) -> Iterator[Driver]:
    """One statement committed on its own (autocommit): no BEGIN and COMMIT, two round trips fewer."""
    with _raw(db) as connection:
        _set_autocommit(connection, True)
        try:
            yield Driver(connection)
        finally:
            _set_autocommit(connection, False)


class Sent:
    """A statement sent in a pipeline: its rows once the pipeline has synced (`Pipelined.sync` or `end`)."""

    def __init__(self, prepared: Prepared, cursor: Any, eager: bool) -> None:
        self._prepared, self._cursor = prepared, cursor
        # SQLite: read now, or the statement stays in progress and COMMIT is refused
        self._found = self._fetch() if eager else None

    def _fetch(self) -> list[tuple[Any, ...]]:
        return self._prepared.rows(self._cursor.fetchall()) if self._cursor.description else []

    def rows(self) -> list[tuple[Any, ...]]:
        return self._found if self._found is not None else self._fetch()

    def first(self) -> dict[str, Any] | None:
        """The first row, by column name, or None."""
        return self._prepared.first(self.rows())


class Pipelined:
    """Statements sent without waiting for each one's answer: psycopg's pipeline mode on PostgreSQL, where
    everything sent before a `sync` (or the `end`) costs one round trip; on SQLite, a file, each runs as it is
    sent. Outside an explicit `begin` and `commit` each statement commits on its own."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self.connection = connection
        self._open = contextlib.ExitStack()
        self._pipeline = self._open.enter_context(connection.pipeline()) if postgres else None

    def send(self, prepared: Prepared, **given: Any) -> Sent:
        cursor = self.connection.cursor()
        cursor.execute(prepared.sql, prepared.parameters(given))
        return Sent(prepared, cursor, eager=self._pipeline is None)

    def begin(self) -> None:
        self.connection.execute("BEGIN")

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def sync(self) -> None:
        """Wait for the answers to everything sent so far: one round trip."""
        if self._pipeline is not None:
            self._pipeline.sync()

    def end(self, *exc: Any) -> None:
        """Leave pipeline mode, waiting for the answers to everything sent (the last round trip)."""
        self._pipeline = None
        self._open.__exit__(*(exc or (None, None, None)))


@contextlib.contextmanager
def pipelined(db: Database) -> Iterator[Pipelined]:
    """A pooled driver connection in pipeline mode (autocommit: the statements say BEGIN and COMMIT themselves).
    The block ends with `end()`; on an error, a transaction still open is rolled back."""
    with _raw(db) as connection:
        _set_autocommit(connection, True)
        sent = Pipelined(connection, db.is_postgres)
        try:
            yield sent
            sent.end()
        except BaseException:
            sent.end(*sys.exc_info())  # psycopg's pipeline logs a second error rather than raise it
            connection.rollback()  # only if a transaction is open (psycopg and sqlite3 check)
            raise
        finally:
            _set_autocommit(connection, False)


@functools.cache
def prepared(db: Database, statement: ClauseElement) -> Prepared:
    """The statement compiled once for db's dialect (a handful per process)."""
    return Prepared(statement, db.engine.dialect)


# --- a photo's steps ------------------------------------------------------------------------------------------


def grant(db: Database, sub: str) -> Grant | None:
    """The grant, read on the driver (tokens.access_for), detached from any session."""
    with statement(db) as d:
        row = d.first(prepared(db, grants.GET), sub=sub)
    return Grant(**row) if row is not None else None


def begin_attempt(db: Database, item_id: str) -> tuple[Item | None, Grant | None]:
    """The item with this delivery counted (None if it is finished, gone, or held for its turn: a stray copy of
    its message, sent again when its turn comes), and its user's grant: one round trip."""
    with pipelined(db) as d:
        attempt = d.send(prepared(db, items.BEGIN_ATTEMPT), item_id=item_id)
        of_user = d.send(prepared(db, grants.OF_ITEM), item_id=item_id)
    row, grant_row = attempt.first(), of_user.first()
    return (Item(**row) if row is not None else None), (Grant(**grant_row) if grant_row is not None else None)


def record_upload(
    db: Database, vault: Vault, item: Item, upload_token: str, input_bytes: int, output_bytes: int, release: int = 0
) -> BatchWait:
    """The upload token (sealed) and the sizes; then, in the same transaction, what waits for the user's batch,
    and up to `release` of the user's held items released (as items.release does) while more are coming.

    Two round trips: BEGIN, the upload and what waits for the batch; then the release, COMMIT, and on PostgreSQL
    what waits read again after the commit (two last uploads committing side by side under READ COMMITTED each
    see the other still coming, and neither would ask for the batch; read after its own commit, the later of
    the two sees both uploaded. SQLite has one writer: the last upload's transaction saw every other)."""
    sealed = ITEM_UPLOAD.seal(vault, item.id, upload_token)
    at = utcnow()
    values = {"item_id": item.id, "sealed": sealed, "at": at, "input_bytes": input_bytes}
    released = again = None
    with pipelined(db) as d:
        d.begin()
        recorded = d.send(prepared(db, items.RECORD_UPLOAD), **values, output_bytes=output_bytes)
        asked = d.send(prepared(db, items.BATCH_WAIT), sub=item.sub)
        d.sync()
        if not recorded.rows():
            d.commit()
            return BatchWait(uploaded=0, coming=False)  # another delivery recorded it first: nothing to ask
        waiting = items.batch_wait_of(asked.rows()[0])
        if release and waiting.coming:  # no statement after a user's last photo
            released = d.send(prepared(db, items.RELEASE), user=item.sub, n=release, at=at)
        d.commit()
        if waiting.coming and db.is_postgres:
            again = d.send(prepared(db, items.BATCH_WAIT), sub=item.sub)
    if again is not None:
        waiting = items.batch_wait_of(again.rows()[0])
    if released is not None:
        waiting = dataclasses.replace(waiting, released=tuple(item_id for (item_id,) in released.rows()))
    return waiting


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
