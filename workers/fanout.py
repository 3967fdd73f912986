"""Fan-out use cases: open and poll a Picker session, or scan the inbox album, then one message per item."""

from __future__ import annotations

import datetime
import logging

from workers import messages, metrics, tokens
from workers.context import Context
from workers.errors import MediaGone, PickerExpired
from workers.google.photos import Photos
from workers.store import grants, items, submissions
from workers.store.items import Source
from workers.store.models import Item

log = logging.getLogger(__name__)


def open_picker(ctx: Context, submission_id: str) -> None:
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != "exchanging" or row.sub is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        session = photos.create_picker_session()
    submissions.move(
        ctx.db,
        submission_id,
        ("exchanging",),
        "awaiting_pick",
        picker_session_id=session["id"],
        picker_uri=session["pickerUri"],
        picker_expires_at=_parse_time(session.get("expireTime")),
    )
    messages.poll_picker(submission_id, _interval_ms(session))


def poll_picker(ctx: Context, submission_id: str) -> None:
    """One look at the session: not picked yet, poll again later; picked, ledger rows and messages."""
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != "awaiting_pick" or row.sub is None or row.picker_session_id is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        try:
            session = photos.get_picker_session(row.picker_session_id)
        except MediaGone:
            raise PickerExpired("the picker session expired before the user picked") from None
        if not session.get("mediaItemsSet"):
            submissions.touch(ctx.db, submission_id)  # alive: the sweeper leaves a polled submission alone
            messages.poll_picker(submission_id, _interval_ms(session))
            return
        found = [_picked(p) for p in photos.picked_items(row.picker_session_id)]
        _fan_out(ctx, photos, submission_id, row.sub, "picker", found)


def scan_inbox(ctx: Context, submission_id: str) -> None:
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != "exchanging" or row.sub is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        album_id = photos.find_album(ctx.settings.inbox_album_title)
        listed = photos.album_items(album_id) if album_id else []
        found = [_library_item(i) for i in listed if _created_since(i, row.since)]
        _fan_out(ctx, photos, submission_id, row.sub, "inbox", found)


def _fan_out(ctx: Context, photos: Photos, submission_id: str, sub: str, source: str, found: list[Source]) -> None:
    ensure_target_album(ctx, photos, sub)
    pending = items.add(ctx.db, submission_id, sub, source, ctx.settings.recipe, found)
    submissions.move(ctx.db, submission_id, ("awaiting_pick", "exchanging"), "processing")
    for item_id in pending:
        messages.process_item(item_id)
    log.info("fanned out %d items", len(pending), extra={"submission_id": submission_id})
    finish_if_complete(ctx, submission_id)


def ensure_target_album(ctx: Context, photos: Photos, sub: str) -> str:
    """The user's target album, created once: ours on record, else one we created earlier, else a new one."""
    album_id = grants.album_of(ctx.db, sub, "target")
    if album_id:
        return album_id
    title = ctx.settings.target_album_title
    with ctx.locks.hold(f"album:{sub}"):
        album_id = grants.album_of(ctx.db, sub, "target") or photos.find_album(title) or photos.create_album(title)
        return grants.save_album(ctx.db, sub, "target", title, album_id)


def forget_target_album(ctx: Context, sub: str) -> None:
    grants.drop_album(ctx.db, sub, "target")


def finish_if_complete(ctx: Context, submission_id: str) -> None:
    if items.unfinished(ctx.db, submission_id):
        return
    if not submissions.move(ctx.db, submission_id, ("processing",), "done"):
        return
    row = submissions.get(ctx.db, submission_id)
    if row is not None:
        metrics.code_to_album((row.updated_at - row.created_at).total_seconds())
    if row and row.sub and row.picker_session_id:
        # Google asks apps to delete a session once its items are downloaded.
        with tokens.photos_for(ctx, row.sub) as photos:
            photos.delete_picker_session(row.picker_session_id)
    log.info("submission done", extra={"submission_id": submission_id})


def fresh_base_url(ctx: Context, photos: Photos, item: Item) -> str | None:
    """A new base URL for an item whose old one expired: from its picker session while that lives, or
    from the Library for app-created (inbox) items. None when the item can no longer be reached."""
    try:
        if item.source == "picker":
            row = submissions.get(ctx.db, item.submission_id)
            if row is None or row.picker_session_id is None:
                return None
            found = [p for p in photos.picked_items(row.picker_session_id) if p.get("id") == item.source_media_id]
            return _picked(found[0]).base_url if found else None
        return str(photos.media_item(item.source_media_id)["baseUrl"])
    except MediaGone:
        return None


def _picked(item: dict[str, object]) -> Source:
    media = item["mediaFile"]
    assert isinstance(media, dict)
    return Source(str(item["id"]), media["baseUrl"], media.get("filename", "photo.jpg"), media.get("mimeType", ""))


def _library_item(item: dict[str, object]) -> Source:
    return Source(
        str(item["id"]), str(item["baseUrl"]), str(item.get("filename", "photo.jpg")), str(item.get("mimeType", ""))
    )


def _created_since(item: dict[str, object], since: datetime.datetime | None) -> bool:
    metadata = item.get("mediaMetadata")
    created = _parse_time(metadata.get("creationTime")) if isinstance(metadata, dict) else None
    return since is None or created is None or created >= since


def _interval_ms(session: dict[str, object]) -> int:
    config = session.get("pollingConfig") or {}
    raw = str(config.get("pollInterval", "5s")) if isinstance(config, dict) else "5s"
    return max(500, int(float(raw.rstrip("s") or 5) * 1000))


def _parse_time(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(datetime.UTC).replace(tzinfo=None)
