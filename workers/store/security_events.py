"""Security events (Cross-Account Protection), kept once per jti."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from workers.store.db import Database
from workers.store.models import SecurityEvent, utcnow


def record_security_event(db: Database, jti: str, event_type: str, sub: str | None, state: str | None = None) -> bool:
    """Keep the event once; False when this jti was seen before (Google redelivers). `state`: what a
    verification event carried back."""
    try:
        with db.session() as s:
            s.add(SecurityEvent(jti=jti, event_type=event_type, sub=sub, state=state))
    except IntegrityError:
        return False
    return True


def verified(db: Database, state: str) -> datetime | None:
    """When the receiver recorded a verification event carrying `state` (darkroom risc verify), if it did."""
    with db.session() as s:
        return s.scalar(select(SecurityEvent.received_at).where(SecurityEvent.state == state).limit(1))


def security_event(db: Database, jti: str) -> SecurityEvent | None:
    with db.session() as s:
        return s.get(SecurityEvent, jti)


def mark_applied(db: Database, jti: str) -> None:
    with db.session() as s:
        s.execute(update(SecurityEvent).where(SecurityEvent.jti == jti).values(applied_at=utcnow()))


def is_applied(db: Database, jti: str) -> bool:
    event = security_event(db, jti)
    return event is not None and event.applied_at is not None


def unapplied(db: Database, received_before: datetime) -> list[str]:
    """Events recorded and never applied: their message was lost. The sweeper sends them again."""
    with db.session() as s:
        query = select(SecurityEvent.jti).where(
            SecurityEvent.applied_at.is_(None), SecurityEvent.received_at < received_before
        )
        return list(s.scalars(query.limit(1000)))
