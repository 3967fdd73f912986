"""The inbox source: an app-created album the app fills from the device; darkroom can list it at any time, so
it is what batch reprocessing re-reads. `since` means first seen by darkroom since then: an album tells no time
an item was added, and `creationTime` is when the photo was taken (docs/google.md#photos-library)."""

from __future__ import annotations

import datetime

from workers.context import Context
from workers.grants import tokens
from workers.photos import fanout
from workers.store import items, submissions
from workers.store.items import Source
from workers.store.states import SourceKind, SubmissionStatus


def scan_inbox(ctx: Context, submission_id: str) -> None:
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != SubmissionStatus.EXCHANGING or row.sub is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        album_id = photos.find_album(ctx.settings.inbox_album_title)
        listed = photos.album_items(album_id) if album_id else []
        found = [fanout.library_item(i) for i in listed]
        fanout.fan_out(
            ctx, photos, submission_id, row.sub, SourceKind.INBOX, _seen_since(ctx, row.sub, found, row.since)
        )


def _seen_since(ctx: Context, sub: str, found: list[Source], since: datetime.datetime | None) -> list[Source]:
    """What darkroom first saw at or after `since` (photos it never saw are seen now)."""
    if since is None:
        return found
    first = items.first_seen(ctx.db, sub, [f.media_id for f in found])
    return [f for f in found if f.media_id not in first or first[f.media_id] >= since]
