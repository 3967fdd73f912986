"""Submissions: the outbox of posted codes and the status the app reads back."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from workers.store import albums, hotpath, items, notifications
from workers.store.db import Database, changed
from workers.store.models import Item, Submission, rfc3339, utcnow
from workers.store.sealed import SUBMISSION_CODE, SUBMISSION_CODE_HASH, SUBMISSION_PUSH
from workers.store.states import (
    SUBMISSION_BEFORE_ITEMS,
    SUBMISSION_FINAL,
    SUBMISSION_OPEN,
    EventType,
    Platform,
    SourceKind,
    SubmissionStatus,
)
from workers.store.vault import Vault

FINAL = SUBMISSION_FINAL


def record(db: Database, vault: Vault, code: str, source: str, platform: str = Platform.IOS) -> tuple[str, bool]:
    """The submission for `code`, found by keyed hash or created with the code encrypted; True if created."""
    return record_many(db, vault, [(code, source, platform)])[0]


def record_many(db: Database, vault: Vault, posts: Sequence[tuple[Any, ...]]) -> list[tuple[str, bool]]:
    """`record` for each (code, source[, platform[, push token]]), in order: one multi-row INSERT ... ON CONFLICT
    DO NOTHING RETURNING id, then, only if some code was there already (or came twice in this batch), one lookup
    for those. The hot path of ingest, which records concurrent posts together."""
    if not posts:
        return []
    if vault.key_count > 1:  # a key rotation is under way: the same code may sit under an older hash
        return [_record_during_rotation(db, vault, *post) for post in posts]
    rows = [_new_row(vault, SUBMISSION_CODE_HASH.of(vault, post[0]), *post) for post in posts]
    inserted = set(_insert(db, rows))
    others = {row[1] for row in rows if row[0] not in inserted}  # a committed row holds each of these hashes
    found = _ids_by_hash(db, others) if others else {}
    return [(row[0], True) if row[0] in inserted else (found[row[1]], False) for row in rows]


_SET_AT_INGEST = (
    "id",
    "code_hash",
    "code_secret",
    "push_secret",
    "source",
    "platform",
    "status",
    "created_at",
    "updated_at",
)


def _new_row(
    vault: Vault, code_hash: str, code: str, source: str, platform: str = Platform.IOS, push_token: str | None = None
) -> tuple[Any, ...]:
    """A new submission's values, in _SET_AT_INGEST order."""
    submission_id = secrets.token_hex(16)  # 128 random bits: the only key to the status
    secret = SUBMISSION_CODE.seal(vault, submission_id, code)
    push = SUBMISSION_PUSH.seal(vault, submission_id, push_token) if push_token else None
    now = utcnow()
    return (submission_id, code_hash, secret, push, source, str(platform), SubmissionStatus.QUEUED.value, now, now)


def _insert(db: Database, rows: list[tuple[Any, ...]]) -> list[str]:
    return hotpath.insert_many_new(db, cast(Table, Submission.__table__), _SET_AT_INGEST, rows)


def _ids_by_hash(db: Database, hashes: set[str]) -> dict[str, str]:
    with db.session() as s:
        query = select(Submission.code_hash, Submission.id).where(Submission.code_hash.in_(hashes))
        return {code_hash: submission_id for code_hash, submission_id in s.execute(query)}


def _record_during_rotation(
    db: Database, vault: Vault, code: str, source: str, platform: str = Platform.IOS, push_token: str | None = None
) -> tuple[str, bool]:
    hashes = SUBMISSION_CODE_HASH.candidates(vault, code)
    row = _new_row(vault, hashes[0], code, source, platform, push_token)
    inserted = bool(_insert(db, [row]))
    found = find_by_hashes(db, hashes[1:] if inserted else hashes)  # under an older key, or the same code again
    if inserted and found:  # seen before under a key since rotated out of first place: keep the old one
        with db.session() as s:
            s.execute(delete(Submission).where(Submission.id == row[0]))
        return found, False
    return (row[0], True) if inserted else (found or _raise_lost(), False)


def _raise_lost() -> str:
    raise RuntimeError("a submission vanished between insert and lookup")


def find_by_hashes(db: Database, hashes: list[str]) -> str | None:
    with db.session() as s:
        return s.scalar(select(Submission.id).where(Submission.code_hash.in_(hashes)))


def get(db: Database, submission_id: str) -> Submission | None:
    with db.session() as s:
        return s.get(Submission, submission_id)


def code_of(db: Database, vault: Vault, submission_id: str) -> str | None:
    return code_in(vault, get(db, submission_id))


def code_in(vault: Vault, row: Submission | None) -> str | None:
    """The code of a submission row already read, if it still has one."""
    if row is None or row.code_secret is None:
        return None
    return SUBMISSION_CODE.open(vault, row.id, row.code_secret)


def push_token_of(db: Database, vault: Vault, submission_id: str) -> str | None:
    row = get(db, submission_id)
    if row is None or row.push_secret is None:
        return None
    return SUBMISSION_PUSH.open(vault, submission_id, row.push_secret)


def forget_push_token(db: Database, submission_id: str) -> None:
    update_fields(db, submission_id, push_secret=None)


def update_fields(db: Database, submission_id: str, **fields: Any) -> None:
    with db.session() as s:
        s.execute(update(Submission).where(Submission.id == submission_id).values(**fields))


def move(
    db: Database,
    submission_id: str,
    from_states: tuple[SubmissionStatus, ...],
    to_state: SubmissionStatus,
    **fields: Any,
) -> bool:
    """Compare-and-set the status: True when this caller made the move. A move the app is told of writes its
    notifications in the same transaction, so it is told exactly of the moves that happened."""
    with db.session() as s:
        query = update(Submission).where(Submission.id == submission_id, Submission.status.in_(from_states))
        moved = changed(s.execute(query.values(status=to_state, **fields))) == 1
        if moved and to_state in _TOLD and db.channels:
            _tell(s, db, submission_id, _TOLD[to_state])
        return moved


_TOLD = {
    SubmissionStatus.AWAITING_PICK: EventType.AWAITING_PICK,
    SubmissionStatus.DONE: EventType.DONE,
    SubmissionStatus.FAILED: EventType.FAILED,
}


def _tell(s: Session, db: Database, submission_id: str, event: EventType) -> None:
    row = s.get(Submission, submission_id)
    if row is None:
        return
    s.refresh(row)  # the UPDATE above ran in SQL: read what it wrote
    # Only a code darkroom redeemed names its user (`sub`): a junk code's failure never pushes to the device token
    # posted with it, which is forgotten instead (anyone can post any token).
    redeemed = row.sub is not None
    push = redeemed and row.push_secret is not None and event in (EventType.DONE, EventType.FAILED)
    if not redeemed and event == EventType.FAILED:
        row.push_secret = None
    notifications.emit(s, db, event, _snapshot(s, row), push=push)


def fail(db: Database, submission_id: str, error_code: str, detail: str, missing: list[str] | None = None) -> None:
    fields = {"error_code": error_code, "error_detail": detail[:500], "code_secret": None}
    if missing is not None:
        fields["missing_scopes"] = " ".join(missing)
    move(db, submission_id, SUBMISSION_OPEN, SubmissionStatus.FAILED, **fields)


def fail_user(db: Database, sub: str, error_code: str, detail: str) -> list[str]:
    with db.session() as s:
        query = select(Submission.id).where(Submission.sub == sub, Submission.status.not_in(FINAL))
        ids = list(s.scalars(query))
    for submission_id in ids:
        fail(db, submission_id, error_code, detail)
    return ids


def item_counts(db: Database, submission_id: str) -> dict[str, int]:
    with db.session() as s:
        return _item_counts(s, submission_id)


def _item_counts(s: Session, submission_id: str) -> dict[str, int]:
    return {state: n for state, n in s.execute(_COUNTS, {"submission_id": submission_id})}


_COUNTS = select(Item.state, func.count()).where(Item.submission_id == bindparam("submission_id")).group_by(Item.state)
_READ = select(cast(Table, Submission.__table__)).where(Submission.id == bindparam("submission_id"))


def snapshot(db: Database, submission_id: str) -> dict[str, Any] | None:
    """What the app is told of a submission, as facts (its status document is intake.queries.document of them);
    an outbox row about a submission carries the same, written in the transaction of the change.

    The app reads it every few tens of milliseconds while a person waits: its three statements go on the driver
    in one round trip (workers.store.hotpath.pipelined), each on its own (they need not see one snapshot: the
    app reads again)."""
    with hotpath.pipelined(db) as d:
        read = d.send(hotpath.prepared(db, _READ), submission_id=submission_id)
        counts = d.send(hotpath.prepared(db, _COUNTS), submission_id=submission_id)
        album = d.send(hotpath.prepared(db, albums.SHOWN_FOR_SUBMISSION), submission_id=submission_id)
    found = read.first()
    if found is None:
        return None
    shown = album.first()
    row = Submission(**found)
    return _facts(row, dict(counts.rows()), albums.view(shown["album_id"], shown["url"]) if shown else None)


def _snapshot(s: Session, row: Submission) -> dict[str, Any]:
    return _facts(row, _item_counts(s, row.id), albums.shown(s, row.sub) if row.sub else None)


def _facts(row: Submission, items: dict[str, int], album: dict[str, str | None] | None) -> dict[str, Any]:
    return {
        "submission_id": row.id,
        "sub": row.sub,
        "status": row.status,
        "source": row.source,
        "picker_uri": row.picker_uri,
        "items": items,
        "error_code": row.error_code,
        "error_detail": row.error_detail,
        "missing_scopes": row.missing_scopes.split() if row.missing_scopes else None,
        "album": album,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def stale(db: Database, before: datetime) -> list[Submission]:
    """Submissions still on their way whose row has not moved since `before` (items are swept on their own)."""
    with db.session() as s:
        waiting = Submission.status.in_(SUBMISSION_BEFORE_ITEMS)
        return list(s.scalars(select(Submission).where(waiting, Submission.updated_at < before)))


def forget_redeemed_codes(db: Database, before: datetime) -> int:
    """Submissions whose code was redeemed (or refused) before `before` keep no hash derived from it."""
    with db.session() as s:
        query = update(Submission).where(
            Submission.code_secret.is_(None),
            Submission.created_at < before,
            text("code_hash NOT LIKE 'redeemed:%' AND code_hash NOT LIKE 'internal:%'"),  # ix_submissions_code_kept
        )
        return changed(s.execute(query.values(code_hash="redeemed:" + Submission.id)))


def touch(db: Database, submission_id: str) -> None:
    update_fields(db, submission_id, updated_at=utcnow())


def complete_ids(db: Database) -> list[str]:
    """Processing submissions none of whose items is unfinished, in one statement: each probe of items is one
    of ix_items_open_by_submission, whose entries are the unfinished items only. Normally none: the last item
    to finish finishes its submission; these are the ones a crash left between the two."""
    unfinished = select(Item.id).where(Item.submission_id == Submission.id, items.UNFINISHED)
    query = select(Submission.id).where(Submission.status == SubmissionStatus.PROCESSING, ~unfinished.exists())
    with db.session() as s:
        return list(s.scalars(query))


def open_internal(db: Database, sub: str, source: SourceKind, since: datetime | None) -> str:
    """A submission with no code, opened by darkroom itself (batch reprocessing) to carry a fan-out."""
    submission_id = secrets.token_hex(16)
    with db.session() as s:
        s.add(
            Submission(
                id=submission_id,
                code_hash=f"internal:{submission_id}",
                code_secret=None,
                source=source,
                status=SubmissionStatus.EXCHANGING,
                sub=sub,
                since=since,
            )
        )
    return submission_id
