"""Album items from uploads: one batchCreate for up to 49 of a user's uploaded items, one batch at a time per
user. An item found in `creating` had a batchCreate whose outcome is unknown (a crash, a timeout): the marker
in its file name (names.py) is searched in the album before anything is created again, so a redelivery never
makes a duplicate. After a batch, the next is asked for at once only if what is left is worth a call already.

Uploads ask for a batch (`ask`) once it is worth a call: it is full, nothing more of the user's is coming, or
its oldest upload has waited `batch_wait_s`. A user has at most one such request on its way, not one per
photo: the request is a claim (workers.queue.locks), the upload records its state first and claims second,
and `create_items` releases the claim before it reads, so an upload either finds the claim free and
sends, or is read by the message that holds it. Should no upload finish for a while (the user's last photos
keep failing and retrying), the sweeper asks for the batch of whoever has waited `batch_wait_s`.
"""

from __future__ import annotations

import datetime
import logging

from workers import metrics
from workers.context import Context
from workers.errors import BadRequest, GoogleWait, MediaGone, Unavailable, VaultError
from workers.google.photos import MAX_BATCH, NewItem, Photos
from workers.grants import tokens
from workers.photos import albums, completion, names
from workers.queue import messages
from workers.store import items
from workers.store.models import Item, utcnow
from workers.store.states import ItemState

log = logging.getLogger(__name__)
UPLOAD_TOKEN_LIFETIME = datetime.timedelta(hours=23)  # Google keeps them a day (docs/google.md#photos-library)
CLAIM_MARGIN_S = 5.0  # a request's claim outlives its delay by this much: time to be picked up


def ask(ctx: Context, sub: str, waiting: items.BatchWait) -> None:
    """After an upload: a batch, unless more uploads are coming soon enough to fill it."""
    if _worth_a_call(ctx, waiting):
        # The delay lets the uploads finishing alongside join in; after the user's last one, none can.
        delay_ms = ctx.settings.create_batch_delay_ms if waiting.coming else 0
        if ctx.locks.claim(f"create:{sub}", delay_ms / 1000 + CLAIM_MARGIN_S):
            messages.create_items(sub, delay_ms=delay_ms or None)


def _worth_a_call(ctx: Context, waiting: items.BatchWait) -> bool:
    """batchCreate is one API call for up to 49 items: wait for a full batch unless nothing more is on its
    way for this user, or the oldest upload has waited `batch_wait_s` (API calls per photo near 2.02). None
    uploaded is worth none."""
    if not waiting.uploaded:
        return False
    if waiting.uploaded >= MAX_BATCH or not waiting.coming or waiting.oldest is None:
        return True
    return (utcnow() - waiting.oldest).total_seconds() >= ctx.settings.batch_wait_s


def create_items(ctx: Context, sub: str) -> None:
    """One batchCreate for the user's uploaded items, serialized per user; more batches follow by message."""
    with ctx.locks.hold(f"create:{sub}", timeout_s=120), tokens.photos_for(ctx, sub) as photos:
        ctx.locks.release(f"create:{sub}")  # before reading: a later upload asks again
        album_id = albums.ensure_target_album(ctx, photos, sub)
        try:
            settled = _settle_uncertain(ctx, photos, sub, album_id)
            # More uploads coming soon enough to fill the batch will ask again (or the sweeper, if they stall);
            # only a batch worth a call has its upload tokens opened.
            waiting = items.batch_wait(ctx.db, sub)
            worth = _worth_a_call(ctx, waiting)
            batch = _usable(ctx, items.in_state(ctx.db, sub, ItemState.UPLOADED, MAX_BATCH)) if worth else []
            if batch:
                items.mark_creating(ctx.db, [item.id for item, _ in batch])
                try:
                    _create_batch(ctx, photos, album_id, batch)
                except GoogleWait:  # refused before anything was made (or never sent): not uncertain
                    items.back_to_uploaded(ctx.db, [item.id for item, _ in batch])
                    raise
        except (BadRequest, MediaGone):
            # The user deleted the target album in Google Photos: 400 INVALID_ARGUMENT or 404 NOT_FOUND (Google
            # documents neither; docs/google.md#photos-library). Make a new one on the retry, which finishes the items.
            albums.forget_target_album(ctx, sub)
            raise Unavailable("the target album was refused; a new one is made on the next attempt") from None
    # What is left is asked for now only if it is worth a call; else the uploads still coming ask (or the sweeper,
    # if they stall). A message sent anyway would find it not worth a call and send itself again, in a loop.
    if _worth_a_call(ctx, items.batch_wait(ctx.db, sub)):
        messages.create_items(sub)
    for submission_id in {i.submission_id for i in settled} | {i.submission_id for i, _ in batch}:
        completion.finish_if_complete(ctx, submission_id)


def _usable(ctx: Context, uploaded: list[Item]) -> list[tuple[Item, str]]:
    """Each item with its upload token, opened once. A token older than Google keeps it would only fail in
    batchCreate, and one no configured key opens (its key was dropped before a rotation reached it) is as
    good as none: those items are uploaded again instead."""
    usable = []
    for item in uploaded:
        fresh = item.uploaded_at is not None and utcnow() - item.uploaded_at <= UPLOAD_TOKEN_LIFETIME
        token = _opened(ctx, item) if fresh else None
        if token is None:
            items.upload_again(ctx.db, item.id)
            messages.process_item(item.id)
        else:
            usable.append((item, token))
    return usable


def _opened(ctx: Context, item: Item) -> str | None:
    try:
        return items.upload_token_of(ctx.vault, item)
    except VaultError:
        return None


def _settle_uncertain(ctx: Context, photos: Photos, sub: str, album_id: str) -> list[Item]:
    """Items left in `creating`: those the album already holds are done, the others go back to `uploaded`."""
    uncertain = items.in_state(ctx.db, sub, ItemState.CREATING)
    if not uncertain:
        return []
    found = {names.marker_of(str(i.get("filename", ""))): str(i["id"]) for i in photos.album_items(album_id)}
    for item in uncertain:
        if names.marker(item.id) in found:
            items.mark_done(ctx.db, item.id, found[names.marker(item.id)])
        else:
            items.set_state(ctx.db, item.id, ItemState.UPLOADED)
    log.info("settled %d uncertain items, %d already in the album", len(uncertain), len(found), extra={"sub": sub})
    return uncertain


def _create_batch(ctx: Context, photos: Photos, album_id: str, batch: list[tuple[Item, str]]) -> None:
    new = [NewItem(token, names.output_name(item.filename, item.id)) for item, token in batch]
    results = photos.batch_create(album_id, new)  # a timeout or 5xx raises: the items stay `creating`
    done = {item.id: result.media_id for (item, _), result in zip(batch, results, strict=True) if result.media_id}
    items.mark_done_many(ctx.db, done)
    for _ in done:
        metrics.photo_finished(ItemState.DONE)
    for (item, _), result in zip(batch, results, strict=True):
        if result.media_id is not None:
            continue
        if item.attempts < ctx.settings.max_deliveries:
            items.upload_again(ctx.db, item.id)  # an upload token Google no longer takes: upload again
            messages.process_item(item.id)
        else:
            items.fail(ctx.db, item.id, BadRequest.error_code, f"batchCreate refused the item: {result.error}")
    log.info("batchCreate of %d items", len(batch), extra={"sub": batch[0][0].sub})
