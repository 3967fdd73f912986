"""What the pipeline is doing, for `darkroom status` and `darkroom quota`: queues in Redis, grants, items,
recent failures, and today's use of Google's quota."""

from __future__ import annotations

import datetime
from typing import Any

from workers.context import Context
from workers.operations import retention
from workers.queue import connection, deadletters, table
from workers.store import grants, health, items, notifications, reports, submissions
from workers.store.models import utcnow


def report(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"broker": "embedded (in process)"}
    if ctx.settings.redis_url:
        client = connection.client(ctx.settings.redis_url)
        out = {"queues": deadletters.depths(client)}
        client.close()
    out.update(reports.counts(ctx.db))
    out["notifications"] = notifications.counts(ctx.db)
    out["recent_failures"] = reports.recent_failures(ctx.db, limit=10)
    out["quota"] = quota(ctx)
    out["retention"] = {"days": ctx.settings.retention_days, "due": retention.due(ctx), "counted_up_to": 100}
    out["grant_health"] = grant_health(ctx)
    return out


FAILING_NAMED = 20  # darkroom status names at most so many failing grants


def grant_health(ctx: Context) -> dict[str, Any]:
    """The users of the last 24 hours by the health of their grant, the failing ones named (with their last
    error), and how many active grants Google ends within a week (time-limited access, announced)."""
    now = utcnow()
    return {
        "users": health.counts(ctx.db, now),
        "failing": {sub: found.as_json() for sub, found in health.failing(ctx.db, now, FAILING_NAMED).items()},
        "expiring_within_7_days": grants.expiring(ctx.db, now + datetime.timedelta(days=7)),
    }


def quota(ctx: Context) -> dict[str, Any]:
    """Today's (Pacific) use per API, its budget, and what waits: a spent day until its reset, a slow-down."""
    return {"apis": [use.as_json() for use in ctx.quota.report()], "probe_interval_s": ctx.quota.probe_interval_s}


def dead_letter_reason(ctx: Context) -> deadletters.ReasonOf:
    """Why a dead letter died: what its give-up recorded on the row its actor names, else dramatiq's traceback."""

    def reason_of(message: dict[str, Any]) -> str:
        subject = table.ACTORS[message["actor_name"]].subject if message.get("actor_name") in table.ACTORS else None
        args = message.get("args") or [""]
        row: Any = None
        if subject == table.Subject.SUBMISSION:
            row = submissions.get(ctx.db, str(args[0]))
        elif subject == table.Subject.ITEM:
            row = items.get(ctx.db, str(args[0]))
        if row is not None and row.error_code:
            return f"{row.error_code}: {row.error_detail or ''}"[:300]
        return deadletters.traceback_reason(message)

    return reason_of
