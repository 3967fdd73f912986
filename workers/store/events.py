"""Security events (Cross-Account Protection), kept once per jti."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from workers.store.db import Database
from workers.store.models import SecurityEvent, utcnow


def record_security_event(db: Database, jti: str, event_type: str, sub: str | None) -> bool:
    """Keep the event once; False when this jti was seen before (Google redelivers)."""
    try:
        with db.session() as s:
            s.add(SecurityEvent(jti=jti, event_type=event_type, sub=sub))
    except IntegrityError:
        return False
    return True


def security_event(db: Database, jti: str) -> SecurityEvent | None:
    with db.session() as s:
        return s.get(SecurityEvent, jti)


def mark_applied(db: Database, jti: str) -> None:
    with db.session() as s:
        s.execute(update(SecurityEvent).where(SecurityEvent.jti == jti).values(applied_at=utcnow()))
