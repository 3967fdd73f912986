"""Alembic environment: runs on the connection darkroom hands it (workers.store.db.Database.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from workers.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # the alembic command line: `alembic -x url=... upgrade head`
    engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])
    connection = engine.connect()

# A transaction per migration: a migration that builds an index CONCURRENTLY (migrations/online.py) commits what
# came before it, and one cut off by a lock timeout is run again from there.
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, transaction_per_migration=True
)
with context.begin_transaction():
    context.run_migrations()
