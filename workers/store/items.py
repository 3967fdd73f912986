"""Items: the ledger of source item x recipe version, one row each, with the state each step recorded."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    TextClause,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from workers.store.db import Database, changed
from workers.store.models import Item, utcnow
from workers.store.sealed import ITEM_UPLOAD
from workers.store.states import ITEM_BEFORE_UPLOAD, ITEM_FINAL, ITEM_IN_FLIGHT, NOT_A_PHOTO, ItemState, SourceKind
from workers.store.vault import Vault

FINAL = ITEM_FINAL
# The ledger speaks Core (Database.connection); rows come back as Item objects that no session tracks. Its
# per-photo steps (BEGIN_ATTEMPT, RECORD_UPLOAD, BATCH_WAIT, RELEASE) run on the driver in workers.store.hotpath.
_ITEMS = cast(Table, Item.__table__)


@dataclass(frozen=True)
class Source:
    media_id: str
    base_url: str
    filename: str
    mime_type: str
    is_photo: bool = True  # a video (or anything else) is recorded as skipped, never fetched


def add(db: Database, submission_id: str, sub: str, source: SourceKind, recipe: str, found: list[Source]) -> list[str]:
    """Ledger rows for what was found, each new photo held for its turn (workers.photos.turns) in the order found
    (each a microsecond after the one before: turns go oldest first); an item already in the ledger keeps its
    row, with the new base URL. Returns unfinished ids. On Core, in one transaction: through the ORM the picker
    poll that found a large pick cost about twice the CPU (docs/benchmarks.md)."""
    at = utcnow()
    with db.connection() as c:
        query = select(_ITEMS.c.source_media_id, _ITEMS.c.id, _ITEMS.c.state).where(
            _ITEMS.c.sub == sub, _ITEMS.c.recipe == recipe, _ITEMS.c.source_media_id.in_([f.media_id for f in found])
        )
        existing: dict[str, tuple[str, str]] = {
            media_id: (item_id, state) for media_id, item_id, state in c.execute(query)
        }
        new: list[dict[str, Any]] = []
        again: list[dict[str, Any]] = []
        for n, f in enumerate(found):
            seen = {"base_url": f.base_url, "filename": f.filename, "mime_type": f.mime_type}
            if f.media_id in existing:
                item_id, state = existing[f.media_id]
                if state not in FINAL:
                    again.append({"item_id": item_id, "to_submission": submission_id, **_prefixed(seen)})
                continue
            state = ItemState.HELD if f.is_photo else ItemState.SKIPPED
            item_id = secrets.token_hex(16)
            existing[f.media_id] = (item_id, state)
            new.append(
                {
                    "id": item_id,
                    "submission_id": submission_id,
                    "sub": sub,
                    "source": source,
                    "source_media_id": f.media_id,
                    "recipe": recipe,
                    "state": state,
                    "error_code": None if f.is_photo else NOT_A_PHOTO,
                    "attempts": 0,
                    "created_at": at + timedelta(microseconds=n),
                    "updated_at": at,
                    **seen,
                }
            )
        if new:
            c.execute(insert(_ITEMS), new)
        if again:
            c.execute(_FOUND_AGAIN, again)
        return [item_id for item_id, state in existing.values() if state not in FINAL]


def _prefixed(values: dict[str, Any]) -> dict[str, Any]:
    return {f"to_{name}": value for name, value in values.items()}


def get(db: Database, item_id: str) -> Item | None:
    with db.statement() as c:
        row = c.execute(select(_ITEMS).where(_ITEMS.c.id == item_id)).mappings().first()
    return Item(**row) if row is not None else None


def set_state(db: Database, item_id: str, state: ItemState, **fields: Any) -> None:
    with db.statement() as c:
        c.execute(update(_ITEMS).where(_ITEMS.c.id == item_id).values(state=state, **fields))


def literally_none_of(states: tuple[str, ...], column: str = "state") -> TextClause:
    """`state NOT IN ('done', ...)` with the states as literals, as the partial indexes of migration 0008 say it:
    PostgreSQL uses a partial index only for a WHERE clause it can prove implies the index's, which a bound
    parameter never does."""
    return text(f"{column} NOT IN ({', '.join(repr(str(s)) for s in states)})")


UNFINISHED = literally_none_of(FINAL)  # ix_items_open_by_submission
FINISHED = text(f"state IN ({', '.join(repr(str(s)) for s in FINAL)})")  # ix_items_finished
STALE = literally_none_of((*FINAL, ItemState.HELD))  # ix_items_stale


def _one_of(states: tuple[str, ...]) -> ColumnElement[bool]:
    """state IN (...) as equalities: SQLAlchemy expands an IN's list anew on every execution."""
    return or_(*(_ITEMS.c.state == state for state in states))


def _none_of(states: tuple[str, ...]) -> ColumnElement[bool]:
    return and_(*(_ITEMS.c.state != state for state in states))


BEGIN_ATTEMPT = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"), _none_of((*FINAL, ItemState.HELD)))
    .values(attempts=_ITEMS.c.attempts + 1)
    .returning(*_ITEMS.c)
)
# Only an item still on its way to its upload takes one: a second copy of its message that uploaded too (two
# deliveries at once) must not put an item already in batchCreate, or in the album, back to `uploaded`.
RECORD_UPLOAD = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"), _one_of(ITEM_IN_FLIGHT))
    .values(
        state=ItemState.UPLOADED,
        upload_secret=bindparam("sealed"),
        uploaded_at=bindparam("at"),
        input_bytes=bindparam("input_bytes"),
        output_bytes=bindparam("output_bytes"),
    )
    .returning(_ITEMS.c.id)
)
BATCH_WAIT = select(
    func.count().filter(_ITEMS.c.state == ItemState.UPLOADED),
    func.count().filter(_one_of(ITEM_BEFORE_UPLOAD)),
    func.min(_ITEMS.c.uploaded_at).filter(_ITEMS.c.state == ItemState.UPLOADED),
).where(_ITEMS.c.sub == bindparam("sub"), _one_of((ItemState.UPLOADED, *ITEM_BEFORE_UPLOAD)))


_FOUND_AGAIN = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"))
    .values(
        submission_id=bindparam("to_submission"),
        base_url=bindparam("to_base_url"),
        filename=bindparam("to_filename"),
        mime_type=bindparam("to_mime_type"),
    )
)
_OLDEST_HELD = (
    select(_ITEMS.c.id)
    .where(_ITEMS.c.sub == bindparam("user"), _ITEMS.c.state == ItemState.HELD)
    .order_by(_ITEMS.c.created_at, _ITEMS.c.id)
    .limit(bindparam("n"))
    .with_for_update(skip_locked=True)
    .cte("oldest")
)
RELEASE = (
    update(_ITEMS)
    .where(_ITEMS.c.id == _OLDEST_HELD.c.id, _ITEMS.c.state == ItemState.HELD)
    .values(state=ItemState.QUEUED, updated_at=bindparam("at"))
    .returning(_ITEMS.c.id)
)


@dataclass(frozen=True)
class BatchWait:
    """A user's items uploaded and waiting for batchCreate, whether more are on their way, and since when the
    oldest of them waits; after an upload, the held item released to take its turn, if any."""

    uploaded: int
    coming: bool
    oldest: datetime | None = None
    released: tuple[str, ...] = ()


def uncount_attempt(db: Database, item_id: str) -> None:
    """Take back the delivery begin_attempt counted: the work waited and did not run."""
    with db.statement() as c:
        c.execute(
            update(_ITEMS).where(_ITEMS.c.id == item_id, _ITEMS.c.attempts > 0).values(attempts=_ITEMS.c.attempts - 1)
        )


def _batch_wait(c: Connection, sub: str) -> BatchWait:
    return batch_wait_of(tuple(c.execute(BATCH_WAIT, {"sub": sub}).one()))


def batch_wait_of(row: tuple[Any, ...]) -> BatchWait:
    uploaded, coming, oldest = row
    return BatchWait(int(uploaded or 0), bool(coming), oldest)


def batch_wait(db: Database, sub: str) -> BatchWait:
    with db.statement() as c:
        return _batch_wait(c, sub)


def fail(db: Database, item_id: str, error_code: str, detail: str) -> None:
    failed = {"state": ItemState.FAILED, "error_code": error_code, "error_detail": detail[:500]}
    with db.statement() as c:
        c.execute(update(_ITEMS).where(_ITEMS.c.id == item_id, _ITEMS.c.state.not_in(FINAL)).values(**failed))


def fail_user(db: Database, sub: str, error_code: str, detail: str) -> int:
    failed = {"state": ItemState.FAILED, "error_code": error_code, "error_detail": detail[:500]}
    with db.connection() as c:
        query = update(_ITEMS).where(_ITEMS.c.sub == sub, _ITEMS.c.state.not_in(FINAL))
        return changed(c.execute(query.values(**failed)))


def unfinished(db: Database, submission_id: str) -> int:
    with db.statement() as c:
        query = select(func.count()).where(_ITEMS.c.submission_id == submission_id, UNFINISHED)
        return int(c.execute(query).scalar_one())


def upload_token_of(vault: Vault, item: Item) -> str | None:
    return ITEM_UPLOAD.open(vault, item.id, item.upload_secret) if item.upload_secret else None


def in_state(db: Database, sub: str, state: ItemState, limit: int | None = None) -> list[Item]:
    query = select(_ITEMS).where(_ITEMS.c.sub == sub, _ITEMS.c.state == state).order_by(_ITEMS.c.created_at)
    return _items(db, query.limit(limit))


def _items(db: Database, query: Select[Any]) -> list[Item]:
    with db.statement() as c:
        return [Item(**row) for row in c.execute(query).mappings()]


def mark_creating(db: Database, item_ids: list[str]) -> None:
    """Mark items as handed to batchCreate: from here the outcome is uncertain until recorded."""
    with db.statement() as c:
        c.execute(update(_ITEMS).where(_ITEMS.c.id.in_(item_ids)).values(state=ItemState.CREATING))


def back_to_uploaded(db: Database, item_ids: list[str]) -> None:
    """Back from `creating` to `uploaded`: batchCreate is known not to have made them (refused, or not sent)."""
    with db.statement() as c:
        query = update(_ITEMS).where(_ITEMS.c.id.in_(item_ids), _ITEMS.c.state == ItemState.CREATING)
        c.execute(query.values(state=ItemState.UPLOADED))


def mark_done(db: Database, item_id: str, output_media_id: str) -> None:
    mark_done_many(db, {item_id: output_media_id})


def mark_done_many(db: Database, media_ids: dict[str, str]) -> None:
    """Items done, each with its media item: one statement for a whole batch (an UPDATE each before)."""
    if media_ids:
        media = case(media_ids, value=_ITEMS.c.id)
        query = update(_ITEMS).where(_ITEMS.c.id.in_(list(media_ids)))
        with db.statement() as c:
            c.execute(query.values(state=ItemState.DONE, output_media_id=media, upload_secret=None, base_url=None))


def upload_again(db: Database, item_id: str) -> None:
    """Back to the start: the upload token is gone or unusable, so the photo is uploaded again."""
    set_state(db, item_id, ItemState.QUEUED, upload_secret=None, uploaded_at=None)


def release(db: Database, sub: str, n: int) -> list[str]:
    """Up to `n` of the user's held items, oldest first, moved to `queued`: the caller sends their messages.

    Safe from many processes at once: on PostgreSQL the rows are locked with SKIP LOCKED, and the outer
    condition on the state means a row another transaction released first is not released again. The oldest
    are a CTE, which PostgreSQL runs once: as an `IN (subquery)` its LIMIT did not hold (tests/workers/store).
    """
    if n <= 0:
        return []
    with db.connection() as c:
        return list(c.execute(RELEASE, {"user": sub, "n": n, "at": utcnow()}).scalars())


def turns_due(db: Database, window: int) -> dict[str, int]:
    """Users with photos held for their turn and fewer than `window` in flight: how many each may have released."""
    in_flight = func.count().filter(_ITEMS.c.state.in_(ITEM_IN_FLIGHT))
    query = (
        select(_ITEMS.c.sub, in_flight)
        .where(_ITEMS.c.state.in_((ItemState.HELD, *ITEM_IN_FLIGHT)))
        .group_by(_ITEMS.c.sub)
        .having(func.count().filter(_ITEMS.c.state == ItemState.HELD) > 0, in_flight < window)
    )
    with db.connection() as c:
        return {sub: window - int(n) for sub, n in c.execute(query)}


def in_flight(db: Database, sub: str) -> int:
    with db.statement() as c:
        query = select(func.count()).where(_ITEMS.c.sub == sub, _ITEMS.c.state.in_(ITEM_IN_FLIGHT))
        return int(c.execute(query).scalar_one())


def users_waiting_for_batch(db: Database, uploaded_before: datetime) -> list[str]:
    """Users with an upload waiting for its batchCreate since before `uploaded_before`."""
    waiting = (_ITEMS.c.state == ItemState.UPLOADED, _ITEMS.c.uploaded_at < uploaded_before)
    with db.connection() as c:
        return list(c.execute(select(_ITEMS.c.sub).where(*waiting).distinct()).scalars())


def stale(db: Database, before: datetime, limit: int = 1000) -> list[Item]:
    """Unfinished items that have not moved since `before` (the next sweep takes up the rest past `limit`); held
    ones wait for their turn, not for a message."""
    return _items(db, select(_ITEMS).where(STALE, _ITEMS.c.updated_at < before).limit(limit))


def touch(db: Database, item_ids: list[str]) -> None:
    with db.statement() as c:
        c.execute(update(_ITEMS).where(_ITEMS.c.id.in_(item_ids)).values(updated_at=utcnow()))


def start_over(db: Database, item_id: str) -> None:
    """A failed item back to the start, with a fresh delivery count, held for the user's turn."""
    set_state(db, item_id, ItemState.HELD, attempts=0, error_code=None, error_detail=None, upload_secret=None)


def first_seen(db: Database, sub: str, media_ids: list[str]) -> dict[str, datetime]:
    """When darkroom first recorded each of these source items of the user's, at any recipe."""
    query = (
        select(_ITEMS.c.source_media_id, func.min(_ITEMS.c.created_at))
        .where(_ITEMS.c.sub == sub, _ITEMS.c.source_media_id.in_(media_ids))
        .group_by(_ITEMS.c.source_media_id)
    )
    with db.connection() as c:
        return {media_id: at for media_id, at in c.execute(query)}
