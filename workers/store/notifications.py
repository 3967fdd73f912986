"""The outbox of what the app is told: one row per event and channel, written in the transaction of the state
change it reports (submissions.move, grants.set_state, grants.forget), delivered at least once by workers.notify.

A row's id is the Standard Webhooks `webhook-id` (the same on every retry); its payload holds ids, states and
counts, never a code, a token or a base URL.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from workers.store.db import Database, changed
from workers.store.models import Notification, rfc3339, utcnow
from workers.store.states import Channel, EventType, NotificationState

PENDING_KEY = "darkroom.notifications"  # Session.info: the ids this transaction wrote, sent once it commits


def emit(s: Session, db: Database, event: EventType, data: dict[str, Any], *, push: bool = False) -> None:
    """Write `event` for every channel that is on (push only where the caller says the device asked for it)."""
    now = utcnow()
    body = json.dumps({"type": event, "timestamp": rfc3339(now), "data": data}, separators=(",", ":"))
    for channel in sorted(db.channels):
        if channel == Channel.PUSH and not push:
            continue
        notification = Notification(
            id=f"msg_{secrets.token_hex(16)}",
            channel=channel,
            event_type=event,
            submission_id=data.get("submission_id"),
            sub=data.get("sub"),
            payload=body,
            state=NotificationState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        s.add(notification)
        s.info.setdefault(PENDING_KEY, []).append(notification.id)


def get(db: Database, notification_id: str) -> Notification | None:
    with db.session() as s:
        return s.get(Notification, notification_id)


def attempt(db: Database, notification_id: str) -> int:
    """Count an attempt before it is made; the count after it."""
    with db.session() as s:
        s.execute(
            update(Notification).where(Notification.id == notification_id).values(attempts=Notification.attempts + 1)
        )
        return s.scalar(select(Notification.attempts).where(Notification.id == notification_id)) or 0


def settle(db: Database, notification_id: str, state: NotificationState, error: str | None = None) -> bool:
    """Delivered, dead or dropped; False when it was settled already (a second delivery of the message)."""
    values: dict[str, Any] = {"state": state, "last_error": error}
    if state == NotificationState.DELIVERED:
        values["delivered_at"] = utcnow()
    with db.session() as s:
        query = update(Notification).where(Notification.id == notification_id)
        if state == NotificationState.DELIVERED:
            query = query.where(Notification.state != NotificationState.DELIVERED)
        return changed(s.execute(query.values(**values))) == 1


def retry_at(db: Database, notification_id: str, at: datetime, error: str) -> None:
    with db.session() as s:
        query = update(Notification).where(Notification.id == notification_id)
        s.execute(query.values(state=NotificationState.PENDING, next_attempt_at=at, last_error=error[:300]))


def postpone(db: Database, notification_id: str, at: datetime) -> None:
    with db.session() as s:
        s.execute(update(Notification).where(Notification.id == notification_id).values(next_attempt_at=at))


def due(db: Database, slack_s: float) -> list[str]:
    """Pending rows whose next attempt is `slack_s` overdue: their message was lost (a Redis flush, a crash)."""
    with db.session() as s:
        cutoff = utcnow() - timedelta(seconds=slack_s)
        query = select(Notification.id).where(
            Notification.state == NotificationState.PENDING, Notification.next_attempt_at < cutoff
        )
        return list(s.scalars(query.limit(1000)))


def counts(db: Database, window: timedelta = timedelta(hours=24)) -> dict[str, dict[str, int]]:
    """Per channel, rows by state: what `darkroom status` shows. Pending and dead ones all (through the state's
    index: few), the others written in the last `window` (through created_at's): not the history."""
    since = utcnow() - window
    unsettled = Notification.state.in_((NotificationState.PENDING, NotificationState.DEAD))
    settled = and_(
        Notification.state.in_((NotificationState.DELIVERED, NotificationState.DROPPED)),
        Notification.created_at >= since,
    )
    out: dict[str, dict[str, int]] = {}
    with db.session() as s:
        for where in (unsettled, settled):
            query = select(Notification.channel, Notification.state, func.count()).where(where)
            for channel, state, n in s.execute(query.group_by(Notification.channel, Notification.state)):
                out.setdefault(channel, {})[state] = n
    return out
