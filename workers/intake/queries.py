"""What the app and the platform read back: a submission's status document (rendered here from the store's
facts, for the status route and the webhooks alike), and whether this process is ready."""

from __future__ import annotations

import time
from typing import Any

from workers.context import Context
from workers.errors import QuotaWait
from workers.queue import broker
from workers.queue.governor import Use
from workers.store import grants, health, submissions
from workers.store.db import Database
from workers.store.models import utcnow
from workers.store.states import ITEM_FINAL, ItemState, SubmissionStatus


def status(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    """The submission's status document; while Google's Library quota is spent, or the user has had their share
    of the day, its work waits (`waiting` says until when, `counts.waiting` how many items), at whatever step
    waits: the album made after the pick too, while the submission is still `awaiting_pick`."""
    facts = submissions.snapshot(ctx.db, submission_id)
    if facts is None:
        return None
    doc, sub = document(facts), facts["sub"]
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


def view(db: Database, submission_id: str) -> dict[str, Any] | None:
    """The status document without what the quota adds (`waiting`): what a notification about it carries."""
    facts = submissions.snapshot(db, submission_id)
    return None if facts is None else document(facts)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    """The app's view of a submission's facts (store.submissions.snapshot), for GET /v1/submissions/{id} and the
    submission.* webhooks."""
    error: dict[str, Any] | None = None
    if facts["error_code"]:
        error = {"code": facts["error_code"], "detail": facts["error_detail"]}
        if facts["missing_scopes"]:
            error["missing_scopes"] = facts["missing_scopes"]
    return {
        "submission_id": facts["submission_id"],
        "status": facts["status"],
        "source": facts["source"],
        "picker_uri": facts["picker_uri"] if facts["status"] == SubmissionStatus.AWAITING_PICK else None,
        "counts": counts_view(facts["items"]),
        "album": facts.get("album"),
        "error": error,
        "created_at": facts["created_at"],
        "updated_at": facts["updated_at"],
    }


def counts_view(by_state: dict[str, int]) -> dict[str, int]:
    """A submission's item counts as the app reads them (README: How it works): always `total`, `done`, `failed`,
    `skipped` and `waiting` (not started yet: queued, or held for the user's turn), then whichever steps are
    under way (`downloaded`, `uploaded`, `creating`). They add up to `total`."""
    rest = dict(by_state)
    counts = {"total": sum(rest.values())}
    counts |= {state: rest.pop(state, 0) for state in (ItemState.DONE, ItemState.FAILED, ItemState.SKIPPED)}
    counts["waiting"] = rest.pop(ItemState.HELD, 0) + rest.pop(ItemState.QUEUED, 0)
    return counts | rest


def quota_use(ctx: Context) -> list[Use]:
    """Today's use of Google's quota per API, project-wide (for the web process's /metrics)."""
    return ctx.quota.report()


def grant_counts(ctx: Context) -> tuple[dict[str, int], dict[str, int]]:
    """Grants by state, and the users of the last 24 hours by their grant's health (for /metrics)."""
    return grants.by_state(ctx.db), health.counts(ctx.db, utcnow())


def queue_state(ctx: Context) -> tuple[dict[str, dict[str, int]], dict[str, float]] | None:
    """Each queue's messages by state, and how long its oldest ready one has waited (for /metrics and the
    console), read on the broker's own Redis connections; None on the embedded broker, which lives in its
    process."""
    client = broker.redis_client()
    if client is None:
        return None
    from workers.queue import deadletters

    return deadletters.depths(client), deadletters.oldest_ready_s(client, int(time.time() * 1000))


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
