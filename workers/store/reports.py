"""Counts and recent failures for operators, straight from the system of record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from workers.store import health, items
from workers.store.db import Database
from workers.store.models import Grant, Item, Submission, rfc3339, utcnow
from workers.store.states import ITEM_FINAL, SUBMISSION_FINAL, SUBMISSION_OPEN, ItemState, SubmissionStatus

WINDOW = timedelta(hours=24)  # finished work is counted over the last day: history is not what an operator reads


def counts(db: Database, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Grants by state; submissions and items by state, the open ones all, the finished ones over the last 24
    hours. Each statement reads through an index what is open
    or what moved in the last day: `darkroom status` costs the same after a year as after a week."""
    since = (now or utcnow()) - WINDOW
    finished_today = and_(Submission.status.in_(SUBMISSION_FINAL), Submission.updated_at >= since)
    with db.session() as s:
        grants = dict(s.execute(select(Grant.state, func.count()).group_by(Grant.state)).all())
        subs = dict(
            s.execute(
                select(Submission.status, func.count())
                .where(Submission.status.in_(SUBMISSION_OPEN))
                .group_by(Submission.status)
            ).all()
        )
        subs.update(
            s.execute(select(Submission.status, func.count()).where(finished_today).group_by(Submission.status)).all()
        )
        # The open states named (a range each in ix_items_state), not "none of the finished": that reads them all.
        unfinished = [state for state in ItemState if state not in ITEM_FINAL]
        open_items = select(Item.state, func.count()).where(Item.state.in_(unfinished)).group_by(Item.state)
        by_state = dict(s.execute(open_items).all())
        done_items = select(Item.state, func.count()).where(items.FINISHED, Item.updated_at >= since)
        done_items = done_items.group_by(Item.state)
        by_state.update(s.execute(done_items).all())
    return {"grants": grants, "submissions": subs, "items": by_state}


def recent_failures(db: Database, limit: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The newest failures of the last 24 hours, of submissions and of items."""
    since = (now or utcnow()) - WINDOW
    with db.session() as s:
        failed_submissions = s.scalars(
            select(Submission)
            .where(Submission.status == SubmissionStatus.FAILED, Submission.updated_at >= since)
            .order_by(Submission.updated_at.desc())
            .limit(limit)
        )
        rows: list[dict[str, Any]] = [
            {"kind": "submission", "id": r.id, "error": r.error_code, "detail": r.error_detail, "at": r.updated_at}
            for r in failed_submissions
        ]
        failed_items = s.scalars(
            select(Item)
            .where(items.FINISHED, Item.updated_at >= since, Item.state == ItemState.FAILED)
            .order_by(Item.updated_at.desc())
            .limit(limit)
        )
        rows += [
            {"kind": "item", "id": i.id, "error": i.error_code, "detail": i.error_detail, "at": i.updated_at}
            for i in failed_items
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


def users(
    db: Database, after: str | None = None, limit: int | None = None, health_state: str | None = None
) -> Iterator[dict[str, Any]]:
    """The grants darkroom holds, by `sub`, from after `after`, at most `limit`, as an operator may see them:
    never a token, nor a profile claim but the email; each with its health over the last 24 hours, and only
    those in `health_state` if given. Read a page of PAGE at a time (keyset, on the primary key): memory stays
    the same for 200,000 users as for 20."""
    left, now = limit, utcnow()
    while left is None or left > 0:
        query = select(*_USER_COLUMNS).order_by(Grant.sub).limit(PAGE)
        if after is not None:
            query = query.where(Grant.sub > after)
        with db.session() as s:
            page = [_user(row) for row in s.execute(query)]
        if not page:
            return
        after = page[-1]["sub"]
        found = health.of(db, [user["sub"] for user in page], now)
        for user in page:
            user["health"] = found.get(user["sub"], health.Tally()).as_json()
            if health_state is not None and user["health"]["state"] != health_state:
                continue
            yield user
            if left is not None:
                left -= 1
                if left == 0:
                    return
        if len(page) < PAGE:
            return


def user(db: Database, sub: str) -> dict[str, Any] | None:
    with db.session() as s:
        grant = s.get(Grant, sub)
        if grant is None:
            return None
        found = _user(grant)
        query = select(Item.state, func.count()).where(Item.sub == sub).group_by(Item.state)
        found["counts"] = {"total": 0, **dict(s.execute(query).all())}
        found["counts"]["total"] = sum(v for k, v in found["counts"].items() if k != "total")
        found["refresh_expires_at"] = rfc3339(grant.refresh_expires_at)
        found["refresh_used_at"] = rfc3339(grant.refresh_used_at)
    found["health"] = health.of(db, [sub], utcnow()).get(sub, health.Tally()).as_json()
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
