"""The hot paths on the driver (workers.store.hotpath), on SQLite and PostgreSQL: what they read and write is what
SQLAlchemy would, and the parts of SQLAlchemy's compiled form they rely on are pinned here, so an upgrade that
changes them fails in this file rather than in a photo."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import sqlalchemy

from tests.workers.store.conftest import LATER, dump
from workers.store import grants, hotpath, items, submissions
from workers.store.grants import Access
from workers.store.items import Source


def test_the_per_photo_statements_on_the_driver_read_and_write_what_core_would(store):
    """begin_attempt, record_upload and the grant read run on the driver (workers.store.hotpath): the same rows as
    through SQLAlchemy, types converted both ways (SQLite keeps datetimes as text), `onupdate` applied."""
    db, vault = store
    submission_id, _ = submissions.record(db, vault, "4/0Acode-driver", "picker")
    found = [Source(f"m{i}", f"http://x/{i}", f"{i}.jpg", "image/jpeg") for i in range(3)]
    first, second, third = items.add(db, submission_id, "42", "picker", "auto-v1", found)
    assert hotpath.begin_attempt(db, first) == (None, None)  # held for its turn (and no grant yet)
    assert items.release(db, "42", 1) == [first]
    before = items.get(db, first)
    assert before is not None
    item, _ = hotpath.begin_attempt(db, first)
    assert item is not None and (item.id, item.state, item.attempts, item.sub) == (first, "queued", 1, "42")
    assert isinstance(item.created_at, datetime.datetime) and item.created_at == before.created_at
    assert item.updated_at > before.updated_at  # the column's onupdate, as SQLAlchemy would set it
    waiting = hotpath.record_upload(db, vault, item, "upload-token-1", 1000, 1400, release=1)
    assert waiting.uploaded == 1 and waiting.coming and isinstance(waiting.oldest, datetime.datetime)
    assert waiting.released == (second,)  # the next held photo took its turn, in the same transaction
    stored = items.get(db, first)
    assert stored is not None and stored.state == "uploaded" and stored.output_bytes == 1400
    assert stored.uploaded_at == waiting.oldest and items.upload_token_of(vault, stored) == "upload-token-1"
    assert "upload-token-1" not in dump(db)
    grants.save_exchange(
        db, vault, sub="42", claims={}, scopes=("s",), state="active", access=Access("ya29.driver", LATER),
        refresh_token="1//0refresh",
    )  # fmt: skip
    grant, core = hotpath.grant(db, "42"), grants.get(db, "42")
    assert grant is not None and grant.sub == "42" and grants.access_of(db, vault, "42") == Access("ya29.driver", LATER)
    assert core is not None and {c: getattr(grant, c) for c in COLUMNS} == {c: getattr(core, c) for c in COLUMNS}
    _, with_attempt = hotpath.begin_attempt(db, first)  # the grant of the item's user, read with the attempt
    assert with_attempt is not None and {c: getattr(with_attempt, c) for c in COLUMNS} == {
        c: getattr(core, c) for c in COLUMNS
    }
    assert hotpath.grant(db, "nobody") is None and third not in waiting.released


def test_a_database_that_fails_under_the_driver_path_is_unavailable_and_rolls_back(store):
    from workers.errors import Unavailable

    db, vault = store
    item_id = queued_item(db, vault, "42")
    with pytest.raises(Unavailable), hotpath.pipelined(db) as d:
        d.begin()
        d.send(hotpath.prepared(db, items.BEGIN_ATTEMPT), item_id=item_id)  # counted, then the transaction fails
        d.send(hotpath.prepared(db, sqlalchemy.text("SELECT * FROM no_such_table")))
        d.commit()
    again, _ = hotpath.begin_attempt(db, item_id)  # on a pooled connection: none is left in a failed transaction
    assert again is not None and again.attempts == 1  # the failed transaction's count was rolled back


def queued_item(db, vault, sub: str) -> str:
    """One item of a new submission of the user's, queued: its id."""
    submission_id, _ = submissions.record(db, vault, f"4/0Acode-{sub}", "picker")
    [item_id] = items.add(
        db, submission_id, sub, "picker", "auto-v1", [Source("m", "http://x/m", "m.jpg", "image/jpeg")]
    )
    items.release(db, sub, 1)
    return item_id


COLUMNS = ("sub", "state", "scopes", "access_secret", "access_expires_at", "created_at", "updated_at")


@pytest.mark.parametrize("statement", ["BEGIN_ATTEMPT", "RECORD_UPLOAD", "BATCH_WAIT", "RELEASE"])
def test_sqlalchemys_compiled_form_still_holds_what_prepared_reads(store, statement):
    """Prepared rebuilds SQLAlchemy's binding from its compiled statement: the SQL, the bind names in order, the
    constants, the `onupdate` columns, and each type's bind and result processors. Each must still be there."""
    db, _ = store
    compiled: Any = getattr(items, statement).compile(dialect=db.engine.dialect)
    assert isinstance(compiled.binds, dict) and isinstance(compiled._bind_processors, dict)  # noqa: SLF001
    assert all(len(column) >= 4 for column in compiled._result_columns)  # noqa: SLF001 - (name, ..., type)
    for column in compiled._result_columns:  # noqa: SLF001
        assert hasattr(column[3], "_cached_result_processor")
    assert (compiled.positiontup is not None) == db.engine.dialect.positional
    assert all(hasattr(c, "onupdate") for c in compiled.update_prefetch)
    prepared = hotpath.prepared(db, getattr(items, statement))
    assert prepared.sql == str(compiled) and hotpath.prepared(db, getattr(items, statement)) is prepared


def test_a_row_read_on_the_driver_is_the_row_sqlalchemy_reads(store):
    """Every column, with the same Python type and value, through the driver and through Core."""
    db, vault = store
    item_id = queued_item(db, vault, "7")
    item, _ = hotpath.begin_attempt(db, item_id)
    with db.connection() as c:
        row = c.execute(sqlalchemy.select(items.BEGIN_ATTEMPT.table).where(items.BEGIN_ATTEMPT.table.c.id == item_id))
        core = dict(row.mappings().one())
    assert item is not None
    driver = {name: getattr(item, name) for name in core}
    assert driver == core and {k: type(v) for k, v in driver.items()} == {k: type(v) for k, v in core.items()}
    assert isinstance(driver["created_at"], datetime.datetime)
