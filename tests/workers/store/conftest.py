"""The store's tests: a migrated database of each kind (SQLite, PostgreSQL) with a vault, and a dump of it."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator

import pytest
import sqlalchemy

from workers.store.db import Database
from workers.store.vault import Vault, new_key

LATER = datetime.datetime(2030, 1, 1)


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Database, Vault]]:
    db = Database(database_url)
    db.migrate()
    yield db, Vault([base64.urlsafe_b64decode(new_key())])
    db.dispose()


def dump(db: Database) -> str:
    """Every value of every table, as text."""
    out = []
    with db.engine.connect() as connection:
        for table in sqlalchemy.inspect(connection).get_table_names():
            out += [repr(tuple(row)) for row in connection.execute(sqlalchemy.text(f"SELECT * FROM {table}"))]
    return "\n".join(out)
