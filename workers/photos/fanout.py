"""Fan-out: what a source found becomes one ledger row per photo, and a `process_item` message each as the
user's turn allows (workers.photos.turns). Also where an
item's expired base URL is fetched anew, from the source it came from."""

from __future__ import annotations

import logging
from typing import Any

from workers.context import Context
from workers.errors import MediaGone
from workers.google.photos import Photos
from workers.photos import albums, completion, turns
from workers.store import items, submissions
from workers.store.items import Source
from workers.store.models import Item
from workers.store.states import SourceKind, SubmissionStatus

log = logging.getLogger(__name__)
_FANNING_OUT = (SubmissionStatus.AWAITING_PICK, SubmissionStatus.EXCHANGING)


def fan_out(
    ctx: Context, photos: Photos, submission_id: str, sub: str, source: SourceKind, found: list[Source]
) -> None:
    albums.ensure_target_album(ctx, photos, sub)
    pending = items.add(ctx.db, submission_id, sub, source, ctx.settings.recipe, found)
    submissions.move(ctx.db, submission_id, _FANNING_OUT, SubmissionStatus.PROCESSING)
    # New photos wait their turn; one picked again before it finished is on its way already (or, stuck, the
    # sweeper's to send again).
    released = turns.start(ctx, sub)
    log.info("fanned out %d items, %d started", len(pending), released, extra={"submission_id": submission_id})
    completion.finish_if_complete(ctx, submission_id)


def fresh_base_url(ctx: Context, photos: Photos, item: Item) -> str | None:
    """A new base URL for an item whose old one expired: from its picker session while that lives, or
    from the Library for app-created (inbox) items. None when the item can no longer be reached."""
    try:
        if item.source == SourceKind.PICKER:
            row = submissions.get(ctx.db, item.submission_id) if item.submission_id else None
            if row is None or row.picker_session_id is None:
                return None
            found = [p for p in photos.picked_items(row.picker_session_id) if p.get("id") == item.source_media_id]
            return picked(found[0]).base_url if found else None
        return str(photos.media_item(item.source_media_id)["baseUrl"])
    except MediaGone:
        return None


def picked(item: dict[str, Any]) -> Source:
    """A Picker `PickedMediaItem` as a ledger source: `type` is PHOTO, VIDEO or unspecified (docs/google.md#picker)."""
    media = item["mediaFile"]
    mime = str(media.get("mimeType", ""))
    kind = str(item.get("type", "TYPE_UNSPECIFIED"))
    is_photo = kind == "PHOTO" or (kind != "VIDEO" and mime.startswith("image/"))
    return Source(str(item["id"]), str(media["baseUrl"]), str(media.get("filename", "photo.jpg")), mime, is_photo)


def library_item(item: dict[str, Any]) -> Source:
    """A Library `MediaItem` (of an app-created album) as a ledger source; a video has `mediaMetadata.video`."""
    mime = str(item.get("mimeType", ""))
    metadata = item.get("mediaMetadata") or {}
    is_photo = "video" not in metadata and not mime.startswith("video/")
    return Source(str(item["id"]), str(item["baseUrl"]), str(item.get("filename", "photo.jpg")), mime, is_photo)
