"""The inbox source: an app-created album the app fills from the device; darkroom can list it at any time, so
it is what batch reprocessing re-reads."""

from __future__ import annotations

import datetime
from typing import Any

from workers.context import Context
from workers.grants import tokens
from workers.photos import fanout
from workers.photos.picker import parse_time
from workers.store import submissions
from workers.store.states import SourceKind, SubmissionStatus


def scan_inbox(ctx: Context, submission_id: str) -> None:
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != SubmissionStatus.EXCHANGING or row.sub is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        album_id = photos.find_album(ctx.settings.inbox_album_title)
        listed = photos.album_items(album_id) if album_id else []
        found = [fanout.library_item(i) for i in listed if _created_since(i, row.since)]
        fanout.fan_out(ctx, photos, submission_id, row.sub, SourceKind.INBOX, found)


def _created_since(item: dict[str, Any], since: datetime.datetime | None) -> bool:
    metadata = item.get("mediaMetadata")
    created = parse_time(metadata.get("creationTime")) if isinstance(metadata, dict) else None
    return since is None or created is None or created >= since
