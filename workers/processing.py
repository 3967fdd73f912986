"""The photo use case: download, enhance, upload, create in the target album, record. Ledger first, always."""

from __future__ import annotations

import logging

import pipelines
from workers import fanout, tokens
from workers.context import Context
from workers.errors import BadRequest, UnusableImage
from workers.google.photos import NewItem, Photos
from workers.store import items
from workers.store.models import Item

log = logging.getLogger(__name__)


def marker(item_id: str) -> str:
    return f"[darkroom:{item_id}]"


def process(ctx: Context, item_id: str) -> None:
    item = items.get(ctx.db, item_id)
    if item is None or item.state in items.FINAL or item.base_url is None:
        return
    items.count_attempt(ctx.db, item_id)
    with tokens.photos_for(ctx, item.sub) as photos:
        output_id = _through_google(ctx, photos, item)
    items.set_state(ctx.db, item_id, "done", output_media_id=output_id, base_url=None)
    log.info("item done", extra={"item_id": item_id, "submission_id": item.submission_id})
    fanout.finish_if_complete(ctx, item.submission_id)


def _through_google(ctx: Context, photos: Photos, item: Item) -> str:
    item_id = item.id
    assert item.base_url is not None
    original = photos.download(item.base_url)
    items.set_state(ctx.db, item_id, "downloaded", input_bytes=len(original))
    try:
        enhanced = pipelines.enhance_bytes(original, item.recipe)
    except pipelines.DecodeError as exc:
        raise UnusableImage(str(exc)) from None
    upload_token = photos.upload(enhanced.data, enhanced.mime_type, _output_name(item.filename))
    items.set_state(ctx.db, item_id, "uploaded", output_bytes=len(enhanced.data))
    album_id = fanout.ensure_target_album(ctx, photos, item.sub)
    description = f"Enhanced by darkroom, recipe {item.recipe}, from {item.filename} {marker(item_id)}"
    [created] = photos.batch_create(album_id, [NewItem(upload_token, _output_name(item.filename), description)])
    if created.media_id is None:
        raise BadRequest(f"batchCreate refused the item: {created.error}")
    return created.media_id


def _output_name(filename: str | None) -> str:
    stem = (filename or "photo").rsplit(".", 1)[0]
    return f"{stem}-darkroom.jpg"
