"""What the app and the platform read back: a submission's status, and whether this process is ready."""

from __future__ import annotations

from typing import Any

from workers.context import Context
from workers.queue import broker
from workers.store import submissions


def status(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    return submissions.status_view(ctx.db, submission_id)


def readiness(ctx: Context) -> dict[str, bool]:
    """Can this process reach what it needs: the database (at the newest schema: on an older one every post
    would fail) and the broker."""
    return {"database": ctx.db.ping() and ctx.db.schema_is_current(), "broker": broker_ping()}


def broker_ping() -> bool:
    client = getattr(broker.current(), "client", None)
    if client is None:
        return True  # the in-process broker is always there
    try:
        return bool(client.ping())
    except Exception:
        return False
