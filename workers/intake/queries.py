"""What the app and the platform read back: a submission's status, and whether this process is ready."""

from __future__ import annotations

from typing import Any

from workers.context import Context
from workers.errors import QuotaWait
from workers.queue import broker
from workers.queue.governor import Use
from workers.store import submissions
from workers.store.states import ITEM_FINAL, SubmissionStatus


def status(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    """The submission's status document; while Google's Library quota is spent, or the user has had their share
    of the day, its work waits (`waiting` says until when, `counts.waiting` how many items), at whatever step
    waits: the album made after the pick too, while the submission is still `awaiting_pick`."""
    found = submissions.status_and_user(ctx.db, submission_id)
    if found is None:
        return None
    doc, sub = found
    doc["waiting"], counts = None, doc["counts"]
    unfinished = counts["total"] - sum(counts[state] for state in ITEM_FINAL)
    until = None
    if doc["status"] in (SubmissionStatus.AWAITING_PICK, SubmissionStatus.PROCESSING) and sub is not None:
        until = ctx.quota.waiting_until(sub)
    if until is None and doc["status"] == SubmissionStatus.PROCESSING and unfinished:
        until = ctx.quota.paused_until()
    if until is not None:
        doc["waiting"] = {"reason": QuotaWait.error_code, "until": until.replace(microsecond=0).isoformat() + "Z"}
        doc["counts"] = {**{state: counts[state] for state in ("total", *ITEM_FINAL)}, "waiting": unfinished}
    return doc


def quota_use(ctx: Context) -> list[Use]:
    """Today's use of Google's quota per API, project-wide (for the web process's /metrics)."""
    return ctx.quota.report()


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
    except Exception:  # noqa: BLE001 - any failure to answer is "not ready"
        return False
