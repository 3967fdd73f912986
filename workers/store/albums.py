"""Albums: the app-created albums darkroom keeps for each user (the target album, the inbox), by purpose."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from workers.store.db import Database, changed
from workers.store.models import Album
from workers.store.states import AlbumPurpose

CREATING = ""  # the album id of a row whose album was asked for and not yet recorded


def of(db: Database, sub: str, purpose: AlbumPurpose) -> str | None:
    with db.session() as s:
        query = select(Album.album_id).where(Album.sub == sub, Album.purpose == purpose, Album.album_id != CREATING)
        return s.scalar(query)


def begin(db: Database, sub: str, purpose: AlbumPurpose, title: str) -> bool:
    """Record that the album is about to be created. False if that was recorded before and the album never was:
    the earlier create may have made it (Google answered, the worker died), so look for it first."""
    try:
        with db.session() as s:
            s.add(Album(sub=sub, purpose=purpose, title=title, album_id=CREATING))
    except IntegrityError:
        return False
    return True


def drop(db: Database, sub: str, purpose: AlbumPurpose) -> None:
    with db.session() as s:
        s.execute(delete(Album).where(Album.sub == sub, Album.purpose == purpose))


def save(db: Database, sub: str, purpose: AlbumPurpose, title: str, album_id: str) -> str:
    """Keep the album id; when another worker saved one first, theirs wins and is returned."""
    mine = (Album.sub == sub, Album.purpose == purpose, Album.album_id == CREATING)
    try:
        with db.session() as s:
            if not changed(s.execute(update(Album).where(*mine).values(album_id=album_id, title=title))):
                s.add(Album(sub=sub, purpose=purpose, title=title, album_id=album_id))
    except IntegrityError:
        pass
    return of(db, sub, purpose) or album_id
