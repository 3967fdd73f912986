"""Uploading one item: download the original, enhance it, upload the bytes, and keep Google's upload token.

Every step checks the item's ledger row first and records what it did after (workers.store.states.ItemState),
so a redelivered message does only what is left; the album item is made later, in batches (batches.py).
"""

from __future__ import annotations

import time

import pipelines
from workers import metrics
from workers.context import Context
from workers.errors import GaveUp, GoogleWait, MediaGone, UnusableImage
from workers.google.photos import Photos
from workers.grants import tokens
from workers.photos import batches, fanout, turns
from workers.store import hotpath, items
from workers.store.models import Item
from workers.store.states import ITEM_BEFORE_UPLOAD, ItemState


def process_item(ctx: Context, item_id: str) -> None:
    # Counted before the work: a photo that kills its worker is redelivered without dramatiq counting it.
    item, grant = hotpath.begin_attempt(ctx.db, item_id)  # the user's grant read in the same round trip
    if item is None or item.state in items.FINAL:
        return
    if item.attempts > ctx.settings.max_deliveries:
        raise GaveUp(f"delivered more than {ctx.settings.max_deliveries} times without finishing")
    if item.state in ITEM_BEFORE_UPLOAD:
        try:
            with tokens.photos_for(ctx, item.sub, grant) as photos:
                waiting = _upload(ctx, photos, item)
        except GoogleWait:
            items.uncount_attempt(ctx.db, item.id)  # a wait for Google (quota, a refresh's cool-down): no delivery
            raise
        turns.released(waiting.released)  # uploaded: the user's next photo held, if any, took its place
    else:
        waiting = items.batch_wait(ctx.db, item.sub)  # uploaded before: its batch may still need asking for
    batches.ask(ctx, item.sub, waiting)


def _upload(ctx: Context, photos: Photos, item: Item) -> items.BatchWait:
    original = _download(ctx, photos, item)
    started = time.thread_time()
    try:
        enhanced = pipelines.enhance_bytes(original, item.recipe)
    except pipelines.DecodeError as exc:
        raise UnusableImage(str(exc)) from None
    finally:
        metrics.enhanced(time.thread_time() - started)
    upload_token = photos.upload(enhanced.data, enhanced.mime_type)
    return hotpath.record_upload(
        ctx.db, ctx.vault, item, upload_token, len(original), len(enhanced.data), release=turns.AFTER_EACH
    )


def _download(ctx: Context, photos: Photos, item: Item) -> bytes:
    """The original; a base URL that expired (they live about an hour) is fetched anew once."""
    assert item.base_url is not None
    try:
        return photos.download(item.base_url)
    except MediaGone:
        fresh = fanout.fresh_base_url(ctx, photos, item)
        if fresh is None:
            raise
        items.set_state(ctx.db, item.id, ItemState(item.state), base_url=fresh)
        return photos.download(fresh)
