"""The database handle: one lazily created engine per process, short transactions, and migrations."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    CursorResult,
    Dialect,
    Engine,
    Result,
    Table,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from workers.errors import Unavailable

_MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """The database boundary: a database that cannot do what was asked (down, locked, out of connections, no
    such table) is Unavailable, here, once. A conflicting row (IntegrityError) stays for the store's own
    functions to read: it answers a question ("was it there already?"), it is no outage."""
    try:
        yield
    except IntegrityError:
        raise
    except (DBAPIError, PoolTimeout) as exc:
        raise Unavailable(f"the database is unavailable: {type(exc).__name__}") from exc


class Prepared:
    """A Core statement compiled once for one dialect, to run on the driver itself (Database.driver): the
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
    """One transaction on a pooled driver connection (Database.driver)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def run(self, prepared: Prepared, **given: Any) -> list[tuple[Any, ...]]:
        cursor = self._connection.execute(prepared.sql, prepared.parameters(given))
        return prepared.rows(cursor.fetchall()) if cursor.description else []

    def first(self, prepared: Prepared, **given: Any) -> dict[str, Any] | None:
        """The first row, by column name, or None."""
        rows = self.run(prepared, **given)
        return dict(zip(prepared.names, rows[0], strict=True)) if rows else None


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


class Database:
    def __init__(
        self,
        url: str,
        channels: frozenset[str] = frozenset(),
        on_notify: Callable[[list[str]], None] | None = None,
    ) -> None:
        """`channels`: the outbox's channels that are on; `on_notify`: what to call with the ids of the outbox rows
        a transaction wrote, once it commits (the Context sends them to the notify worker; a failure there is
        left to the sweeper)."""
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._sessions: sessionmaker[Session] | None = None
        self.channels, self.on_notify = channels, on_notify

    @property
    def engine(self) -> Engine:
        # Created on first use, so a forked dramatiq worker process opens its own connections.
        with self._lock:
            if self._engine is None:
                self._engine = _create_engine(self.url)
                self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine

    def warm(self) -> None:
        """Create the engine and open a pooled connection now, ahead of the first real query."""
        with translated(), self.engine.connect():
            pass

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """One transaction on SQLAlchemy Core, for the per-photo hot path: a Session's unit of work and its
        ORM statements cost more CPU than the statements themselves. Writes no outbox rows."""
        with translated(), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def driver(self) -> Iterator[Driver]:
        """One transaction on the driver itself, for statements made with `prepared` (the per-photo path)."""
        engine = self.engine
        dbapi_error = engine.dialect.loaded_dbapi.Error
        with translated():
            pooled = engine.raw_connection()
            try:
                connection: Any = pooled.driver_connection
                try:
                    yield Driver(connection)
                    connection.commit()
                except BaseException:
                    connection.rollback()
                    raise
            except dbapi_error as exc:
                raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
            finally:
                pooled.close()

    @functools.cache  # noqa: B019 - a handful per process: the per-photo statements
    def prepared(self, statement: ClauseElement) -> Prepared:
        return Prepared(statement, self.engine.dialect)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with translated():
            self.engine  # noqa: B018 - creates the session factory
            assert self._sessions is not None
            with self._sessions.begin() as session:
                yield session
        self._notify(session.info.pop("darkroom.notifications", []))

    def _notify(self, ids: list[str]) -> None:
        if ids and self.on_notify is not None:
            try:
                self.on_notify(ids)
            except Exception:  # committed: the sweeper sends them when their time has passed
                log.warning("%d notifications not enqueued; the sweeper sends them", len(ids), exc_info=True)

    def insert_many_new(self, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> list[Any]:
        """INSERT rows (values in `columns` order) ... ON CONFLICT DO NOTHING RETURNING the key of each new row:
        one atomic statement, committed on its own (no BEGIN and COMMIT around it).

        The hot path of ingest, so it speaks to the driver directly, on a pooled connection (checked, and
        reset when it goes back): PostgreSQL takes one array per column through unnest(), in psycopg's binary
        format (%b: no quoting of every element), so the statement text never changes and psycopg caches it;
        SQLite takes one VALUES tuple per row. SQLAlchemy's
        executemany would build and parse a statement with a parameter per value, and wrap every row."""
        if not rows:
            return []
        sql, processors = self._insert_many_sql(table, columns, 0 if self.is_postgres else len(rows))
        converted = [[p(v) if p else v for p, v in zip(processors, row, strict=True)] for row in rows]
        if self.is_postgres:
            params: Sequence[Any] = [list(column) for column in zip(*converted, strict=True)]
        else:
            params = [value for row in converted for value in row]
        with translated():
            return self._execute_raw(sql, params)

    def _execute_raw(self, sql: str, params: Sequence[Any]) -> list[Any]:
        engine = self.engine
        dbapi_error = engine.dialect.loaded_dbapi.Error
        pooled = engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection
            _set_autocommit(driver, True)
            try:
                return [row[0] for row in driver.execute(sql, params).fetchall()]
            finally:
                _set_autocommit(driver, False)
        except dbapi_error as exc:
            raise DBAPIError.instance(sql, None, exc, dbapi_error) from exc
        finally:
            pooled.close()

    @functools.cache  # noqa: B019 - a handful per process: (table, columns, row count on SQLite)
    def _insert_many_sql(self, table: Table, columns: tuple[str, ...], count: int) -> tuple[str, list[Any]]:
        dialect = self.engine.dialect
        types = [table.columns[name].type for name in columns]
        processors = [t.bind_processor(dialect) for t in types]
        (key,) = table.primary_key.columns
        names = ", ".join(columns)
        if self.is_postgres:
            arrays = ", ".join(f"CAST(%b AS {t.compile(dialect=dialect)}[])" for t in types)
            source = f"SELECT * FROM unnest({arrays})"
        else:
            source = "VALUES " + ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * count)
        sql = f"INSERT INTO {table.name} ({names}) {source} ON CONFLICT DO NOTHING RETURNING {key.name}"
        return sql, processors

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def schema_is_current(self) -> bool:
        """Whether the database is at the newest migration: a web process on an older schema only fails posts."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except SQLAlchemyError:
            return False
        return current == ScriptDirectory.from_config(config).get_current_head()

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with translated(), self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None


def _private_file(url: str) -> None:
    """The SQLite file holds sealed tokens and personal data: readable by its owner only (0600), made so before
    SQLite creates it (its -wal and -shm files take the same mode)."""
    path = make_url(url).database
    if path and path != ":memory:" and not os.path.exists(path):
        with contextlib.suppress(OSError):  # no such directory: SQLite's own open fails, and says so
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _set_autocommit(driver: Any, on: bool) -> None:
    if isinstance(driver, sqlite3.Connection):
        driver.isolation_level = None if on else ""  # type: ignore[assignment] # "": BEGIN before a change
    else:
        driver.autocommit = on  # psycopg


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    _private_file(url)
    # One connection per process: SQLite has one writer anyway, and threads queueing on the pool wake at once
    # where SQLite's busy handler would make them sleep and retry (p99 of 1.3 s against 16 concurrent posts).
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
        # WAL lets web and workers (separate processes) read while one writes.
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash loses nothing, a power cut
        # may lose the last commits (sqlite.org/pragma.html#pragma_synchronous). PostgreSQL stays fully durable.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
