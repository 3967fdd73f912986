"""What the ingest app may call: record a posted code and enqueue its exchange, and read a status."""

from __future__ import annotations

from typing import Any

from workers import broker, messages
from workers.context import Context
from workers.store import submissions


def submit(ctx: Context, code: str, source: str) -> str:
    """Record the code (encrypted) before enqueueing; the same code again returns the same submission."""
    submission_id, created = submissions.record(ctx.db, ctx.vault, code, source)
    if created:
        messages.exchange_code(submission_id)
    return submission_id


def status(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    return submissions.status_view(ctx.db, submission_id)


def readiness(ctx: Context) -> dict[str, bool]:
    """Can this process reach what it needs: the database and the broker."""
    return {"database": ctx.db.ping(), "broker": broker_ping()}


def broker_ping() -> bool:
    client = getattr(broker.current(), "client", None)
    if client is None:
        return True  # the in-process broker is always there
    try:
        return bool(client.ping())
    except Exception:
        return False
