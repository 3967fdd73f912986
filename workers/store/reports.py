"""Counts and recent failures for operators, straight from the system of record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from workers.store.db import Database
from workers.store.models import Grant, Item, Submission, rfc3339
from workers.store.states import SUBMISSION_OPEN, ItemState, SubmissionStatus


def counts(db: Database) -> dict[str, dict[str, int]]:
    with db.session() as s:
        return {
            "grants": dict(s.execute(select(Grant.state, func.count()).group_by(Grant.state)).all()),
            "submissions": dict(s.execute(select(Submission.status, func.count()).group_by(Submission.status)).all()),
            "items": dict(s.execute(select(Item.state, func.count()).group_by(Item.state)).all()),
        }


def recent_failures(db: Database, limit: int) -> list[dict[str, Any]]:
    with db.session() as s:
        failed_items = s.scalars(
            select(Item).where(Item.state == ItemState.FAILED).order_by(Item.updated_at.desc()).limit(limit)
        )
        failed_submissions = s.scalars(
            select(Submission)
            .where(Submission.status == SubmissionStatus.FAILED)
            .order_by(Submission.updated_at.desc())
            .limit(limit)
        )
        rows: list[dict[str, Any]] = [
            {"kind": "item", "id": i.id, "error": i.error_code, "detail": i.error_detail, "at": i.updated_at}
            for i in failed_items
        ]
        rows += [
            {"kind": "submission", "id": r.id, "error": r.error_code, "detail": r.error_detail, "at": r.updated_at}
            for r in failed_submissions
        ]
    rows.sort(key=lambda r: r["at"], reverse=True)
    return [{**r, "at": rfc3339(r["at"])} for r in rows[:limit]]


def item_counts_for(db: Database, subs: list[str]) -> dict[str, int]:
    with db.session() as s:
        query = select(Item.state, func.count()).where(Item.sub.in_(subs)).group_by(Item.state)
        return dict(s.execute(query).all())


def submissions_pending_for(db: Database, subs: list[str]) -> int:
    with db.session() as s:
        waiting = Submission.status.in_(SUBMISSION_OPEN)
        return s.scalar(select(func.count()).select_from(Submission).where(Submission.sub.in_(subs), waiting)) or 0


def users(db: Database) -> list[dict[str, Any]]:
    """Every grant darkroom holds, as an operator may see it: never a token, nor a profile claim but the email."""
    with db.session() as s:
        return [_user(grant) for grant in s.scalars(select(Grant).order_by(Grant.sub))]


def user(db: Database, sub: str) -> dict[str, Any] | None:
    with db.session() as s:
        grant = s.get(Grant, sub)
        if grant is None:
            return None
        found = _user(grant)
        query = select(Item.state, func.count()).where(Item.sub == sub).group_by(Item.state)
        found["counts"] = {"total": 0, **dict(s.execute(query).all())}
        found["counts"]["total"] = sum(v for k, v in found["counts"].items() if k != "total")
        return found


def _user(grant: Grant) -> dict[str, Any]:
    return {
        "sub": grant.sub,
        "state": grant.state,
        "email": grant.email,
        "scopes": grant.scopes.split(),
        "last_refresh_at": rfc3339(grant.last_refresh_at),
        "created_at": rfc3339(grant.created_at),
    }
