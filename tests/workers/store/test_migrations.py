"""Migrations on a live PostgreSQL: a migration waits for a lock at most a second and then tries again, so the
per-photo statements queued behind it never wait for a long reader; an index is built CONCURRENTLY, and one a
cut-off build left INVALID is built again."""

from __future__ import annotations

import threading
import time

import sqlalchemy
from alembic import command
from alembic.config import Config

from workers.store import db as store_db
from workers.store.db import Database


def _at(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(store_db._MIGRATIONS))  # noqa: SLF001 - the store's own folder
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


ROWS = """
INSERT INTO submissions (id, code_hash, source, platform, status, created_at, updated_at)
VALUES ('s', 'redeemed:s', 'picker', 'ios', 'done', now(), now());
INSERT INTO items (id, submission_id, sub, source, source_media_id, recipe, state, attempts, created_at, updated_at)
SELECT 'i' || n, 's', 'u' || (n % 50), 'picker', 'm' || n, 'auto-v1', 'done', 1, now(), now()
FROM generate_series(1, 20000) n
"""


def test_a_migration_behind_a_long_reader_never_holds_a_photo_statement_for_long(postgres_url):
    """20,000 items: their indexes are built CONCURRENTLY (migrations/online.py), and the ALTER TABLE before
    them waits for the reader's lock a second at a time."""
    engine = _filled_at_0007(postgres_url)
    reader = engine.connect()
    reader.execute(sqlalchemy.text("SELECT count(*) FROM items"))  # holds its lock until it ends: a long report
    darkroom = Database(postgres_url)
    migrating = threading.Thread(target=darkroom.migrate)
    migrating.start()
    try:
        time.sleep(0.3)  # the migration's ALTER TABLE now waits for the reader's lock
        waits = []
        for _ in range(4):
            started = time.monotonic()
            with engine.begin() as photo:  # what a photo step reads, queued behind the migration's lock
                photo.execute(sqlalchemy.text("SELECT count(*) FROM items WHERE sub = 'u' AND state = 'uploaded'"))
            waits.append(time.monotonic() - started)
            time.sleep(0.5)
    finally:
        reader.rollback()
        reader.close()
    migrating.join(timeout=60)
    assert max(waits) < 1.5, waits  # the lock timeout is 1 s; without it, until the reader ended (2 s and more)
    assert darkroom.schema_is_current() and _valid(engine, "ix_items_stale")
    darkroom.dispose()
    engine.dispose()


def test_an_index_a_cut_off_build_left_invalid_is_built_again(postgres_url):
    engine = _filled_at_0007(postgres_url)
    _at(postgres_url, "0008")
    with engine.begin() as c:  # as a CREATE INDEX CONCURRENTLY cut off (a crash, a stopped deploy) leaves it
        c.execute(
            sqlalchemy.text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('ix_items_stale')")
        )
        c.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = '0007'"))
    darkroom = Database(postgres_url)
    darkroom.migrate()
    darkroom.dispose()
    assert _valid(engine, "ix_items_stale")
    engine.dispose()


def _filled_at_0007(url: str) -> sqlalchemy.Engine:
    """A database at 0007 with 20,000 items: more than a megabyte, so 0008 builds their indexes CONCURRENTLY."""
    _at(url, "0007")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as c:
        for statement in ROWS.split(";"):
            c.execute(sqlalchemy.text(statement))
        assert c.execute(sqlalchemy.text("SELECT pg_relation_size('items') > 1048576")).scalar()
    return engine


def _valid(engine: sqlalchemy.Engine, index: str) -> bool:
    with engine.connect() as c:
        query = sqlalchemy.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:i)")
        return c.execute(query, {"i": index}).scalar() is True
