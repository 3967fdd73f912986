"""Submissions: the outbox of posted codes and the status the app reads back."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from workers.store.db import Database
from workers.store.models import Item, Submission, utcnow
from workers.store.vault import Vault

FINAL = ("done", "failed")


def _code_context(submission_id: str) -> str:
    return f"submission:{submission_id}:code"


def record(db: Database, vault: Vault, code: str, source: str) -> tuple[str, bool]:
    """The submission for `code`, found by keyed hash or created with the code encrypted; True if created.

    One INSERT ... ON CONFLICT DO NOTHING in the common case (a new code): the hot path of ingest."""
    hashes = vault.lookup_hashes(code)
    submission_id = secrets.token_hex(16)  # 128 random bits: the only key to the status
    secret = vault.encrypt(code, _code_context(submission_id))
    row = {
        "id": submission_id,
        "code_hash": hashes[0],
        "code_secret": secret,
        "source": source,
        "status": "queued",
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    row.update(
        sub=None,
        error_code=None,
        error_detail=None,
        missing_scopes=None,
        picker_session_id=None,
        picker_uri=None,
        picker_expires_at=None,
        since=None,
    )
    with db.connection() as connection:
        inserted = connection.execute(db.insert_new(Submission.__table__), row).scalar() is not None
    if inserted and len(hashes) == 1:
        return submission_id, True
    found = find_by_hashes(db, hashes[1:] if inserted else hashes)  # under an older key, or the same code again
    if inserted and found:  # seen before under a key since rotated out of first place: keep the old one
        with db.session() as s:
            s.execute(delete(Submission).where(Submission.id == submission_id))
        return found, False
    return (submission_id, True) if inserted else (found or _raise_lost(), False)


def _raise_lost() -> str:
    raise RuntimeError("a submission vanished between insert and lookup")


def find_by_hashes(db: Database, hashes: list[str]) -> str | None:
    with db.session() as s:
        return s.scalar(select(Submission.id).where(Submission.code_hash.in_(hashes)))


def get(db: Database, submission_id: str) -> Submission | None:
    with db.session() as s:
        return s.get(Submission, submission_id)


def code_of(db: Database, vault: Vault, submission_id: str) -> str | None:
    row = get(db, submission_id)
    if row is None or row.code_secret is None:
        return None
    return vault.decrypt(row.code_secret, _code_context(submission_id))


def update_fields(db: Database, submission_id: str, **fields: Any) -> None:
    with db.session() as s:
        s.execute(update(Submission).where(Submission.id == submission_id).values(**fields))


def move(db: Database, submission_id: str, from_states: tuple[str, ...], to_state: str, **fields: Any) -> bool:
    """Compare-and-set the status: True when this caller made the move."""
    with db.session() as s:
        query = update(Submission).where(Submission.id == submission_id, Submission.status.in_(from_states))
        return s.execute(query.values(status=to_state, **fields)).rowcount == 1


def fail(db: Database, submission_id: str, error_code: str, detail: str, missing: list[str] | None = None) -> None:
    fields = {"error_code": error_code, "error_detail": detail[:500], "code_secret": None}
    if missing is not None:
        fields["missing_scopes"] = " ".join(missing)
    move(db, submission_id, ("queued", "exchanging", "awaiting_pick", "processing"), "failed", **fields)


def fail_user(db: Database, sub: str, error_code: str, detail: str) -> list[str]:
    with db.session() as s:
        query = select(Submission.id).where(Submission.sub == sub, Submission.status.not_in(FINAL))
        ids = list(s.scalars(query))
    for submission_id in ids:
        fail(db, submission_id, error_code, detail)
    return ids


def item_counts(db: Database, submission_id: str) -> dict[str, int]:
    with db.session() as s:
        query = select(Item.state, func.count()).where(Item.submission_id == submission_id).group_by(Item.state)
        return {state: n for state, n in s.execute(query)}


def status_view(db: Database, submission_id: str) -> dict[str, Any] | None:
    row = get(db, submission_id)
    if row is None:
        return None
    counts = item_counts(db, submission_id)
    error = None
    if row.error_code:
        error = {"code": row.error_code, "detail": row.error_detail}
        if row.missing_scopes:
            error["missing_scopes"] = row.missing_scopes.split()
    return {
        "submission_id": row.id,
        "status": row.status,
        "source": row.source,
        "picker_uri": row.picker_uri if row.status == "awaiting_pick" else None,
        "counts": {"total": sum(counts.values()), **counts},
        "error": error,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") + "Z" if at else None


def stale(db: Database, before: datetime) -> list[Submission]:
    """Submissions still on their way whose row has not moved since `before` (items are swept on their own)."""
    with db.session() as s:
        waiting = Submission.status.in_(("queued", "exchanging", "awaiting_pick"))
        return list(s.scalars(select(Submission).where(waiting, Submission.updated_at < before)))


def touch(db: Database, submission_id: str) -> None:
    update_fields(db, submission_id, updated_at=utcnow())


def processing_ids(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Submission.id).where(Submission.status == "processing")))


def open_internal(db: Database, sub: str, source: str, since: datetime | None) -> str:
    """A submission with no code, opened by darkroom itself (batch reprocessing) to carry a fan-out."""
    submission_id = secrets.token_hex(16)
    with db.session() as s:
        s.add(
            Submission(
                id=submission_id,
                code_hash=f"internal:{submission_id}",
                code_secret=None,
                source=source,
                status="exchanging",
                sub=sub,
                since=since,
            )
        )
    return submission_id
