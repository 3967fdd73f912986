"""Items: the ledger of source item × recipe version, one row each, with the state each step recorded."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workers.store.db import Database, changed
from workers.store.models import Item, utcnow
from workers.store.sealed import ITEM_UPLOAD
from workers.store.states import ITEM_BEFORE_UPLOAD, ITEM_FINAL, NOT_A_PHOTO, ItemState, SourceKind
from workers.store.vault import Vault

FINAL = ITEM_FINAL


@dataclass(frozen=True)
class Source:
    media_id: str
    base_url: str
    filename: str
    mime_type: str
    is_photo: bool = True  # a video (or anything else) is recorded as skipped, never fetched


def add(db: Database, submission_id: str, sub: str, source: SourceKind, recipe: str, found: list[Source]) -> list[str]:
    """Ledger rows for what was found; an item already in the ledger keeps its row. Returns unfinished ids."""
    with db.session() as s:
        existing = {
            row.source_media_id: row
            for row in s.scalars(
                select(Item).where(
                    Item.sub == sub, Item.recipe == recipe, Item.source_media_id.in_([f.media_id for f in found])
                )
            )
        }
        for f in found:
            row = existing.get(f.media_id)
            if row is None:
                row = Item(
                    id=secrets.token_hex(16),
                    submission_id=submission_id,
                    sub=sub,
                    source=source,
                    source_media_id=f.media_id,
                    recipe=recipe,
                    state=ItemState.QUEUED if f.is_photo else ItemState.SKIPPED,
                    error_code=None if f.is_photo else NOT_A_PHOTO,
                )
                s.add(row)
                existing[f.media_id] = row
            if row.state not in FINAL:
                row.base_url, row.filename, row.mime_type = f.base_url, f.filename, f.mime_type
                row.submission_id = submission_id
        return [row.id for row in existing.values() if row.state not in FINAL]


def get(db: Database, item_id: str) -> Item | None:
    with db.session() as s:
        return s.get(Item, item_id)


def set_state(db: Database, item_id: str, state: ItemState, **fields: Any) -> None:
    with db.session() as s:
        s.execute(update(Item).where(Item.id == item_id).values(state=state, **fields))


def begin_attempt(db: Database, item_id: str) -> Item | None:
    """The item with this delivery counted, unless it is finished (then it is returned as it is)."""
    with db.session() as s:
        s.execute(update(Item).where(Item.id == item_id, Item.state.not_in(FINAL)).values(attempts=Item.attempts + 1))
        return s.get(Item, item_id)


@dataclass(frozen=True)
class BatchWait:
    """A user's items uploaded and waiting for batchCreate, and whether more are on their way."""

    uploaded: int
    coming: bool


def _batch_wait(s: Session, sub: str) -> BatchWait:
    uploaded = s.scalar(select(func.count()).where(Item.sub == sub, Item.state == ItemState.UPLOADED)) or 0
    coming = s.scalar(select(Item.id).where(Item.sub == sub, Item.state.in_(ITEM_BEFORE_UPLOAD)).limit(1))
    return BatchWait(uploaded, coming is not None)


def batch_wait(db: Database, sub: str) -> BatchWait:
    with db.session() as s:
        return _batch_wait(s, sub)


def fail(db: Database, item_id: str, error_code: str, detail: str) -> None:
    with db.session() as s:
        query = update(Item).where(Item.id == item_id, Item.state.not_in(FINAL))
        s.execute(query.values(state=ItemState.FAILED, error_code=error_code, error_detail=detail[:500]))


def fail_user(db: Database, sub: str, error_code: str, detail: str) -> int:
    with db.session() as s:
        query = update(Item).where(Item.sub == sub, Item.state.not_in(FINAL))
        return changed(
            s.execute(query.values(state=ItemState.FAILED, error_code=error_code, error_detail=detail[:500]))
        )


def unfinished(db: Database, submission_id: str) -> int:
    with db.session() as s:
        query = select(Item.id).where(Item.submission_id == submission_id, Item.state.not_in(FINAL))
        return len(list(s.scalars(query)))


def record_upload(
    db: Database, vault: Vault, item: Item, upload_token: str, input_bytes: int, output_bytes: int
) -> BatchWait:
    """The upload token (sealed) and the sizes; then, in the same transaction, what waits for the user's batch."""
    values = {"upload_secret": ITEM_UPLOAD.seal(vault, item.id, upload_token), "uploaded_at": utcnow()}
    with db.session() as s:
        query = update(Item).where(Item.id == item.id)
        s.execute(query.values(state=ItemState.UPLOADED, input_bytes=input_bytes, output_bytes=output_bytes, **values))
        return _batch_wait(s, item.sub)


def upload_token_of(vault: Vault, item: Item) -> str | None:
    return ITEM_UPLOAD.open(vault, item.id, item.upload_secret) if item.upload_secret else None


def in_state(db: Database, sub: str, state: ItemState, limit: int | None = None) -> list[Item]:
    with db.session() as s:
        query = select(Item).where(Item.sub == sub, Item.state == state).order_by(Item.created_at).limit(limit)
        return list(s.scalars(query))


def claim(db: Database, item_ids: list[str]) -> None:
    """Mark items as handed to batchCreate: from here the outcome is uncertain until recorded."""
    with db.session() as s:
        s.execute(update(Item).where(Item.id.in_(item_ids)).values(state=ItemState.CREATING))


def created(db: Database, item_id: str, output_media_id: str) -> None:
    set_state(db, item_id, ItemState.DONE, output_media_id=output_media_id, upload_secret=None, base_url=None)


def created_many(db: Database, media_ids: dict[str, str]) -> None:
    """Items done, each with its media item (one transaction for a whole batch)."""
    with db.session() as s:
        for item_id, media_id in media_ids.items():
            query = update(Item).where(Item.id == item_id)
            s.execute(query.values(state=ItemState.DONE, output_media_id=media_id, upload_secret=None, base_url=None))


def requeue(db: Database, item_id: str) -> None:
    """Back to the start: the upload token is gone or unusable, so the photo is uploaded again."""
    set_state(db, item_id, ItemState.QUEUED, upload_secret=None, uploaded_at=None)


def stale(db: Database, before: datetime) -> list[Item]:
    with db.session() as s:
        return list(s.scalars(select(Item).where(Item.state.not_in(FINAL), Item.updated_at < before)))


def touch(db: Database, item_ids: list[str]) -> None:
    with db.session() as s:
        s.execute(update(Item).where(Item.id.in_(item_ids)).values(updated_at=utcnow()))


def in_progress(db: Database, sub: str) -> bool:
    """Whether the user has items still on their way to an upload."""
    with db.session() as s:
        query = select(Item.id).where(Item.sub == sub, Item.state.in_(ITEM_BEFORE_UPLOAD)).limit(1)
        return s.scalar(query) is not None


def retry(db: Database, item_id: str) -> None:
    """A failed item back to the start, with a fresh delivery count."""
    set_state(db, item_id, ItemState.QUEUED, attempts=0, error_code=None, error_detail=None, upload_secret=None)


def first_seen(db: Database, sub: str, media_ids: list[str]) -> dict[str, datetime]:
    """When darkroom first recorded each of these source items of the user's, at any recipe."""
    with db.session() as s:
        query = (
            select(Item.source_media_id, func.min(Item.created_at))
            .where(Item.sub == sub, Item.source_media_id.in_(media_ids))
            .group_by(Item.source_media_id)
        )
        return {media_id: at for media_id, at in s.execute(query)}
