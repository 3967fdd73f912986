"""Counts and recent failures for operators, straight from the system of record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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


PAGE = 1000  # ids per statement: bounded bind parameters, whatever the size of a run


def run_progress(db: Database, submission_ids: list[str], item_ids: list[str]) -> tuple[Counter[str], int]:
    """A reprocessing run's items by state (those of the submissions it opened, and the items it started over),
    and how many of its submissions are still open."""
    counts: Counter[str] = Counter()
    still_open = 0
    with db.session() as s:
        for page in _pages(submission_ids):
            by_state = select(Item.state, func.count()).where(Item.submission_id.in_(page)).group_by(Item.state)
            counts.update(dict(s.execute(by_state).all()))
            waiting = select(func.count()).where(Submission.id.in_(page), Submission.status.in_(SUBMISSION_OPEN))
            still_open += s.scalar(waiting) or 0
        for page in _pages(item_ids):
            by_state = select(Item.state, func.count()).where(Item.id.in_(page)).group_by(Item.state)
            counts.update(dict(s.execute(by_state).all()))
    return counts, still_open


def _pages(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), PAGE):
        yield ids[start : start + PAGE]


_USER_COLUMNS = (Grant.sub, Grant.state, Grant.email, Grant.scopes, Grant.last_refresh_at, Grant.created_at)


def users(db: Database, after: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The grants darkroom holds, by `sub`, from after `after`, at most `limit`, as an operator may see them:
    never a token, nor a profile claim but the email. Read a page of PAGE at a time (keyset, on the primary
    key): memory stays the same for 200,000 users as for 20."""
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        query = select(*_USER_COLUMNS).order_by(Grant.sub).limit(size)
        if after is not None:
            query = query.where(Grant.sub > after)
        with db.session() as s:
            page = [_user(row) for row in s.execute(query)]
        yield from page
        if len(page) < size:
            return
        after = page[-1]["sub"]
        if left is not None:
            left -= len(page)


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


def _user(grant: Any) -> dict[str, Any]:
    return {
        "sub": grant.sub,
        "state": grant.state,
        "email": grant.email,
        "scopes": grant.scopes.split(),
        "last_refresh_at": rfc3339(grant.last_refresh_at),
        "created_at": rfc3339(grant.created_at),
    }
