r"""The photo use cases. Every step checks the item's ledger row first and records what it did after:

    queued -> downloaded -> uploaded (upload token kept, encrypted) -> creating -> done
                                                                    \-> failed (with a reason)

`process` downloads, enhances and uploads one item. `create` turns a user's uploaded items into album
items, at most 49 per batchCreate and one batch at a time per user. An item found in `creating` had a
batchCreate whose outcome is unknown (a crash, a timeout): its marker is searched in the album before
anything is created again, so a redelivery never makes a duplicate.
"""

from __future__ import annotations

import datetime
import logging
import re

import pipelines
from workers import fanout, messages, metrics, tokens
from workers.context import Context
from workers.errors import BadRequest, GaveUp, MediaGone, Unavailable, UnusableImage
from workers.google.photos import MAX_BATCH, NewItem, Photos
from workers.store import items
from workers.store.models import Item

log = logging.getLogger(__name__)
MARKER = re.compile(r"\[darkroom:([0-9a-f]{32})\]")
UPLOAD_TOKEN_LIFETIME = datetime.timedelta(hours=23)  # Google keeps them a day (google-apis.md §9)


def marker(item_id: str) -> str:
    return f"[darkroom:{item_id}]"


def process(ctx: Context, item_id: str) -> None:
    item = items.get(ctx.db, item_id)
    if item is None or item.state in items.FINAL:
        return
    # Counted before the work: a photo that kills its worker is redelivered without dramatiq counting it.
    if items.count_attempt(ctx.db, item_id) > ctx.settings.max_deliveries:
        raise GaveUp(f"delivered more than {ctx.settings.max_deliveries} times without finishing")
    if item.state in ("queued", "downloaded"):
        with tokens.photos_for(ctx, item.sub) as photos:
            _upload(ctx, photos, item)
    messages.create_items(item.sub, delay_ms=ctx.settings.create_batch_delay_ms)


def _upload(ctx: Context, photos: Photos, item: Item) -> None:
    original = _download(ctx, photos, item)
    items.set_state(ctx.db, item.id, "downloaded", input_bytes=len(original))
    try:
        enhanced = pipelines.enhance_bytes(original, item.recipe)
    except pipelines.DecodeError as exc:
        raise UnusableImage(str(exc)) from None
    upload_token = photos.upload(enhanced.data, enhanced.mime_type, output_name(item.filename))
    items.record_upload(ctx.db, ctx.vault, item.id, upload_token, len(enhanced.data))


def _download(ctx: Context, photos: Photos, item: Item) -> bytes:
    """The original; a base URL that expired (they live about an hour) is fetched anew once."""
    assert item.base_url is not None
    try:
        return photos.download(item.base_url)
    except MediaGone:
        fresh = fanout.fresh_base_url(ctx, photos, item)
        if fresh is None:
            raise
        items.set_state(ctx.db, item.id, item.state, base_url=fresh)
        return photos.download(fresh)


def create(ctx: Context, sub: str) -> None:
    """One batchCreate for the user's uploaded items, serialized per user; more batches follow by message."""
    with ctx.locks.hold(f"create:{sub}", timeout_s=120), tokens.photos_for(ctx, sub) as photos:
        album_id = fanout.ensure_target_album(ctx, photos, sub)
        try:
            settled = _settle_uncertain(ctx, photos, sub, album_id)
            batch = [i for i in items.in_state(ctx.db, sub, "uploaded", MAX_BATCH) if _usable(ctx, i)]
            if batch and not _worth_a_call(ctx, sub, batch):
                batch = []  # more uploads are coming and will ask again; this bounds the wait if they do not
                messages.create_items(sub, delay_ms=int(ctx.settings.batch_wait_s * 1000))
            if batch:
                items.claim(ctx.db, [i.id for i in batch])
                _create_batch(ctx, photos, album_id, batch)
        except BadRequest:
            # Most likely the user deleted the target album in Google Photos: make a new one next time.
            fanout.forget_target_album(ctx, sub)
            raise Unavailable("the target album was refused; a new one is made on the next attempt") from None
    if items.in_state(ctx.db, sub, "uploaded", 1):
        messages.create_items(sub)
    for submission_id in {i.submission_id for i in settled + batch}:
        fanout.finish_if_complete(ctx, submission_id)


def _worth_a_call(ctx: Context, sub: str, batch: list[Item]) -> bool:
    """batchCreate is one API call for up to 49 items: wait for a full batch unless nothing more is on its
    way for this user, or the oldest upload has waited `batch_wait_s` (API calls per photo near 2.02)."""
    if len(batch) >= MAX_BATCH or not items.in_progress(ctx.db, sub):
        return True
    oldest = min(i.uploaded_at for i in batch if i.uploaded_at is not None)
    waited = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - oldest
    return waited.total_seconds() >= ctx.settings.batch_wait_s


def _usable(ctx: Context, item: Item) -> bool:
    """An upload token older than Google keeps it would only fail in batchCreate: upload again instead."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    if item.uploaded_at is None or now - item.uploaded_at > UPLOAD_TOKEN_LIFETIME:
        items.requeue(ctx.db, item.id)
        messages.process_item(item.id)
        return False
    return True


def _settle_uncertain(ctx: Context, photos: Photos, sub: str, album_id: str) -> list[Item]:
    """Items left in `creating`: those the album already holds are done, the others go back to `uploaded`."""
    uncertain = items.in_state(ctx.db, sub, "creating")
    if not uncertain:
        return []
    found = {
        m.group(1): i["id"] for i in photos.album_items(album_id) if (m := MARKER.search(i.get("description", "")))
    }
    for item in uncertain:
        if item.id in found:
            items.created(ctx.db, item.id, found[item.id])
        else:
            items.set_state(ctx.db, item.id, "uploaded")
    log.info("settled %d uncertain items, %d already in the album", len(uncertain), len(found), extra={"sub": sub})
    return uncertain


def _create_batch(ctx: Context, photos: Photos, album_id: str, batch: list[Item]) -> None:
    new = [NewItem(items.upload_token_of(ctx.vault, i) or "", output_name(i.filename), _description(i)) for i in batch]
    results = photos.batch_create(album_id, new)  # a timeout or 5xx raises: the items stay `creating`
    for item, result in zip(batch, results, strict=True):
        if result.media_id is not None:
            items.created(ctx.db, item.id, result.media_id)
            metrics.photo_finished("done")
        elif item.attempts < ctx.settings.max_deliveries:
            items.requeue(ctx.db, item.id)  # an upload token Google no longer takes: upload again
            messages.process_item(item.id)
        else:
            items.fail(ctx.db, item.id, BadRequest.error_code, f"batchCreate refused the item: {result.error}")
    log.info("batchCreate of %d items", len(batch), extra={"sub": batch[0].sub})


def _description(item: Item) -> str:
    return f"Enhanced by darkroom, recipe {item.recipe}, from {item.filename} {marker(item.id)}"


def output_name(filename: str | None) -> str:
    stem = (filename or "photo").rsplit(".", 1)[0]
    return f"{stem}-darkroom.jpg"
