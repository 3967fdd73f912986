"""The database handle: one lazily created engine per process, short transactions, and migrations."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Result,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from workers.errors import Outage, Unavailable

_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_TIMEOUT_MS = 1000
MIGRATION_STATEMENT_TIMEOUT_MS = 60_000
MIGRATION_ATTEMPTS = 60
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
    except (OperationalError, InterfaceError, PoolTimeout) as exc:  # down, restarting, unreachable, locked
        reconnect = isinstance(exc, DBAPIError) and exc.connection_invalidated
        raise Outage(f"the database is out of reach: {type(exc).__name__}", reconnect=reconnect) from exc
    except DBAPIError as exc:
        raise Unavailable(f"the database is unavailable: {type(exc).__name__}") from exc


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


class Database:
    def __init__(
        self,
        url: str,
        channels: frozenset[str] = frozenset(),
        on_notify: Callable[[list[str]], None] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """`channels`: the outbox's channels that are on; `on_notify`: what to call with the ids of the outbox rows
        a transaction wrote, once it commits (the Context sends them to the notify worker; a failure there is
        left to the sweeper). `timeout_s`: how long a PostgreSQL that stops answering is waited on."""
        self.url, self.timeout_s = url, timeout_s
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
                self._engine = _create_engine(self.url, self.timeout_s)
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
    def statement(self) -> Iterator[Connection]:
        """One statement on SQLAlchemy Core, committed on its own (autocommit): no BEGIN and COMMIT, one round
        trip where a transaction takes three. For a read, or a write that is one statement. Writes no outbox rows."""
        with translated(), self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

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
        """Bring the schema to the newest migration, a transaction per migration. On PostgreSQL a migration waits
        at most MIGRATION_LOCK_TIMEOUT_MS for a lock (a long reader holds the table), then gives up and is tried
        again: queued behind that reader it would hold every per-photo statement behind itself meanwhile. Each
        statement may take at most MIGRATION_STATEMENT_TIMEOUT_MS but an index built CONCURRENTLY, which blocks
        nobody (migrations/online.py)."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        for attempt in range(1, MIGRATION_ATTEMPTS + 1):
            try:
                with translated(), self.engine.connect() as connection:
                    if self.is_postgres:
                        connection.exec_driver_sql(f"SET lock_timeout = {MIGRATION_LOCK_TIMEOUT_MS}")
                        connection.exec_driver_sql(f"SET statement_timeout = {MIGRATION_STATEMENT_TIMEOUT_MS}")
                        connection.commit()
                    try:
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                    finally:
                        if self.is_postgres:
                            connection.rollback()
                            connection.exec_driver_sql("RESET lock_timeout; RESET statement_timeout")
                            connection.commit()
                return
            except Outage as exc:
                if not _lock_timed_out(exc) or attempt == MIGRATION_ATTEMPTS:
                    raise
                log.warning(
                    "a migration waited %d ms for a lock; trying again (%d)", MIGRATION_LOCK_TIMEOUT_MS, attempt
                )
                time.sleep(min(attempt, 5) * random.uniform(0.5, 1.0))

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None


def _lock_timed_out(exc: BaseException) -> bool:
    cause = getattr(exc.__cause__, "orig", None)
    return getattr(cause, "sqlstate", None) == "55P03"  # lock_not_available


def _private_file(url: str) -> None:
    """The SQLite file holds sealed tokens and personal data: readable by its owner only (0600), made so before
    SQLite creates it (its -wal and -shm files take the same mode)."""
    path = make_url(url).database
    if path and path != ":memory:" and not os.path.exists(path):
        with contextlib.suppress(OSError):  # no such directory: SQLite's own open fails, and says so
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping costs a round trip at every checkout; a connection back in the pool less than
    IDLE_BEFORE_PING_S ago is taken as alive (a busy worker's are), an older one is pinged first and replaced
    if dead (a PostgreSQL restart, an idle timeout). A busy one that died meanwhile fails its statement once:
    an Outage, retried in seconds, and SQLAlchemy drops every pooled connection older than it."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["darkroom.idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("darkroom.idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # what pool_pre_ping sends: ";" in autocommit
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


def _across_a_network(timeout_s: float) -> dict[str, int]:
    """libpq's own guards for a database across a network (postgresql.org/docs/15/libpq-connect.html): a connect
    that gets no answer ends after `timeout_s`; data sent and not acknowledged for that long (a partition drops
    packets and refuses nothing) closes the connection (TCP_USER_TIMEOUT), and keep-alives find a peer that
    vanished while the connection was idle in the pool."""
    seconds = max(2, round(timeout_s))
    return {
        "connect_timeout": seconds,
        "tcp_user_timeout": seconds * 1000,
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }


IDLE_BEFORE_PING_S = 2.0


def _create_engine(url: str, timeout_s: float) -> Engine:
    if not url.startswith("sqlite"):
        engine = create_engine(url, connect_args=_across_a_network(timeout_s))
        _ping_when_idle(engine)
        return engine
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
