"""The user's target album: created once and its id kept; when the user deletes it, a new one is made."""

from __future__ import annotations

from workers.context import Context
from workers.google.photos import Photos
from workers.store import albums as album_rows
from workers.store.states import AlbumPurpose


def ensure_target_album(ctx: Context, photos: Photos, sub: str) -> str:
    """The user's target album, created once: ours on record, else a new one in one Library call (a new user's
    album costs one request of the day's quota, not a lookup too). Only when an earlier create was asked for and
    never recorded is the user's album list read first: that create may have made it."""
    album_id = album_rows.of(ctx.db, sub, AlbumPurpose.TARGET)
    if album_id:
        return album_id
    title = ctx.settings.target_album_title
    with ctx.locks.hold(f"album:{sub}"):
        album_id = album_rows.of(ctx.db, sub, AlbumPurpose.TARGET)
        if album_id:
            return album_id
        found = None if album_rows.begin(ctx.db, sub, AlbumPurpose.TARGET, title) else photos.find_album_with_url(title)
        album_id, url = found or photos.create_album_with_url(title)
        return album_rows.save(ctx.db, sub, AlbumPurpose.TARGET, title, album_id, url)


def forget_target_album(ctx: Context, sub: str) -> None:
    album_rows.drop(ctx.db, sub, AlbumPurpose.TARGET)
