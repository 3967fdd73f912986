"""What the operator's console reads of the store: the last day by the hour, users found by sub or email, one
submission's photos with their steps, the day's failures by reason, and the console's own actions. Never a code,
token, push token or base URL: only ids, states, counts, times, file names and error texts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, or_, select

from workers.store import items
from workers.store.db import Database
from workers.store.models import ConsoleAction, Grant, Item, Submission, rfc3339
from workers.store.states import ItemState, SubmissionStatus

DAY = timedelta(hours=24)


def _hour(db: Database, column: Any) -> Any:
    if db.is_postgres:
        return func.date_trunc(literal_column("'hour'"), column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def hourly(db: Database, now: datetime) -> dict[str, dict[str, int]]:
    """The last 24 hours by the hour (`YYYY-MM-DD HH`): codes apps posted, submissions done and failed, photos
    done and failed. Each count reads through an index on its time."""
    since = now - DAY
    out: dict[str, dict[str, int]] = {}

    def add(kind: str, rows: Any) -> None:
        for hour, n in rows:
            key = str(hour)[:13].replace("T", " ")
            out.setdefault(key, {})[kind] = int(n)

    with db.session() as s:
        hour = _hour(db, Submission.created_at)
        posted = Submission.created_at >= since, Submission.code_hash.notlike("internal:%")
        add("codes", s.execute(select(hour, func.count()).where(*posted).group_by(hour)))
        for status in (SubmissionStatus.DONE, SubmissionStatus.FAILED):
            hour = _hour(db, Submission.updated_at)
            query = select(hour, func.count()).where(Submission.status == status, Submission.updated_at >= since)
            add(f"submissions_{status}", s.execute(query.group_by(hour)))
        for state in (ItemState.DONE, ItemState.FAILED):
            hour = _hour(db, Item.updated_at)
            query = select(hour, func.count()).where(items.FINISHED, Item.state == state, Item.updated_at >= since)
            add(f"photos_{state}", s.execute(query.group_by(hour)))
    return out


def funnel(db: Database, now: datetime) -> dict[str, int]:
    """The last 24 hours' codes as a funnel: posted by apps, exchanged for a grant, picked (photos found for
    them); done and failed are in reports.counts."""
    since = now - DAY
    posted = Submission.created_at >= since, Submission.code_hash.notlike("internal:%")
    with db.session() as s:
        codes = s.scalar(select(func.count()).where(*posted)) or 0
        exchanged = s.scalar(select(func.count()).where(*posted, Submission.sub.isnot(None))) or 0
        picked = s.scalar(
            select(func.count(func.distinct(Item.submission_id))).where(
                Item.created_at >= since, Item.submission_id.in_(select(Submission.id).where(*posted))
            )
        )
    return {"codes": int(codes), "exchanged": int(exchanged), "picked": int(picked or 0)}


def find_users(db: Database, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Users whose sub is `text`, or whose email starts with it (case aside); the last updated if `text` is
    empty."""
    query = select(Grant.sub, Grant.email, Grant.state, Grant.last_refresh_at, Grant.updated_at)
    if text:
        query = query.where(or_(Grant.sub == text, func.lower(Grant.email).startswith(text.lower())))
    query = query.order_by(Grant.updated_at.desc()).limit(limit)
    with db.session() as s:
        rows = s.execute(query).all()
        counted = dict(
            s.execute(
                select(Submission.sub, func.count())
                .where(Submission.sub.in_([r.sub for r in rows]))
                .group_by(Submission.sub)
            ).all()
        )
    return [
        {
            "sub": r.sub,
            "email": r.email,
            "state": r.state,
            "last_refresh_at": rfc3339(r.last_refresh_at),
            "submissions": int(counted.get(r.sub, 0)),
        }
        for r in rows
    ]


def submissions_of(db: Database, sub: str, limit: int = 20) -> list[dict[str, Any]]:
    query = (
        select(Submission.id, Submission.status, Submission.source, Submission.error_code, Submission.created_at)
        .where(Submission.sub == sub)
        .order_by(Submission.created_at.desc())
        .limit(limit)
    )
    with db.session() as s:
        return [
            {"id": r.id, "status": r.status, "source": r.source, "error": r.error_code, "at": rfc3339(r.created_at)}
            for r in s.execute(query)
        ]


def photos_of(db: Database, submission_id: str) -> list[dict[str, Any]]:
    """A submission's photos with their steps: found, uploaded, finished (done or failed), and why it failed."""
    query = (
        select(
            Item.id,
            Item.filename,
            Item.state,
            Item.attempts,
            Item.error_code,
            Item.error_detail,
            Item.created_at,
            Item.uploaded_at,
            Item.updated_at,
        )
        .where(Item.submission_id == submission_id)
        .order_by(Item.created_at, Item.id)
    )
    with db.session() as s:
        return [
            {
                "id": r.id,
                "filename": r.filename,
                "state": r.state,
                "attempts": r.attempts,
                "error": r.error_code,
                "detail": r.error_detail,
                "found_at": rfc3339(r.created_at),
                "uploaded_at": rfc3339(r.uploaded_at),
                "finished_at": rfc3339(r.updated_at) if r.state in (ItemState.DONE, ItemState.FAILED) else None,
            }
            for r in s.execute(query)
        ]


def failures_by_reason(db: Database, now: datetime) -> list[dict[str, Any]]:
    """The last day's failed photos and submissions, grouped by error code: how many, and the latest's detail."""
    since = now - DAY
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    with db.session() as s:
        for kind, table, failed in (
            ("photo", Item, (items.FINISHED, Item.state == ItemState.FAILED)),
            ("submission", Submission, (Submission.status == SubmissionStatus.FAILED,)),
        ):
            query = (
                select(table.error_code, func.count(), func.max(table.updated_at))
                .where(*failed, table.updated_at >= since)
                .group_by(table.error_code)
            )
            for code, n, latest in s.execute(query):
                example = s.execute(
                    select(table.id, table.error_detail)
                    .where(*failed, table.error_code == code, table.updated_at == latest)
                    .limit(1)
                ).first()
                groups[(kind, str(code))] = {
                    "kind": kind,
                    "reason": code or "unknown",
                    "count": int(n),
                    "latest_at": rfc3339(latest),
                    "example_id": example[0] if example else None,
                    "detail": (example[1] or "")[:300] if example else "",
                }
    return sorted(groups.values(), key=lambda g: -g["count"])


def record_action(db: Database, email: str, action: str, target: str, outcome: str) -> None:
    with db.session() as s:
        s.add(ConsoleAction(email=email, action=action, target=target[:255], outcome=outcome[:1000]))


def recent_actions(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(select(ConsoleAction).order_by(ConsoleAction.at.desc(), ConsoleAction.id.desc()).limit(limit))
        return [
            {"at": rfc3339(r.at), "email": r.email, "action": r.action, "target": r.target, "outcome": r.outcome}
            for r in rows
        ]
