"""Albums: the app-created albums darkroom keeps for each user (the target album, the inbox), by purpose."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workers.store.db import Database, changed
from workers.store.models import Album, Submission
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


def save(db: Database, sub: str, purpose: AlbumPurpose, title: str, album_id: str, url: str | None = None) -> str:
    """Keep the album id (and its productUrl); when another worker saved one first, theirs wins and is returned."""
    mine = (Album.sub == sub, Album.purpose == purpose, Album.album_id == CREATING)
    kept = {"album_id": album_id, "title": title, "url": url}
    try:
        with db.session() as s:
            if not changed(s.execute(update(Album).where(*mine).values(**kept))):
                s.add(Album(sub=sub, purpose=purpose, **kept))
    except IntegrityError:
        pass
    return of(db, sub, purpose) or album_id


def _shown(sub: Any) -> Select[str, str | None]:
    return select(Album.album_id, Album.url).where(
        Album.sub == sub, Album.purpose == AlbumPurpose.TARGET, Album.album_id != CREATING
    )


# The target album of a submission's user, read on the driver with its status (submissions.snapshot).
SHOWN_FOR_SUBMISSION = _shown(
    select(Submission.sub).where(Submission.id == bindparam("submission_id")).scalar_subquery()
).limit(1)


def shown(s: Session, sub: str) -> dict[str, str | None] | None:
    """The user's target album as the app is shown it ({"id", "url"}), once it exists; in the caller's session."""
    found = s.execute(_shown(sub)).first()
    return None if found is None else view(found.album_id, found.url)


def view(album_id: str, url: str | None) -> dict[str, str | None]:
    """An album as the app is shown it."""
    return {"id": album_id, "url": url}
