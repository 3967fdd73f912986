"""Batch reprocessing: choose what to do again, record it, and hand it to the workers. Nothing here calls
Google or touches a pixel; the ledger makes a second run find nothing left to do.

    inbox (default)   re-read each user's inbox album: new photos, and photos at an older recipe
    --failed          failed items go back to the start (picker items only while their session lives)
    --stale-recipe    users with items done at an older recipe get their inbox re-read at the current one
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from workers.context import Context
from workers.photos import turns
from workers.queue import messages
from workers.store import items, submissions
from workers.store.selection import Selection, active_users, failed_items, users_with_stale_recipe
from workers.store.states import SUBMISSION_FINAL, ItemState, SourceKind, SubmissionStatus


@dataclass(frozen=True)
class Job:
    """One message to send: an inbox scan for a user, or one failed item again."""

    kind: str  # "scan" or "item"
    sub: str
    item_id: str | None = None


def plan(ctx: Context, selection: Selection) -> list[Job]:
    if selection.failed:
        return [Job("item", sub, item_id) for sub, item_id in failed_items(ctx.db, selection)]
    if selection.source == SourceKind.PICKER:
        return []  # picked items cannot be read again after their session ends: only --failed applies
    if selection.stale_recipe:
        subs = users_with_stale_recipe(ctx.db, selection, ctx.settings.recipe)
    else:
        subs = [selection.user] if selection.user else active_users(ctx.db)
    return [Job("scan", sub) for sub in subs]


def send(ctx: Context, job: Job, since: datetime.datetime | None) -> str | None:
    """Send one job; the submission it opened (a scan), or None (an item, started over in its own)."""
    if job.kind == "scan":
        submission_id = submissions.open_internal(ctx.db, job.sub, SourceKind.INBOX, since)
        messages.scan_inbox(submission_id)
        return submission_id
    assert job.item_id is not None
    item = items.get(ctx.db, job.item_id)
    if item is None or item.state != ItemState.FAILED:
        return None  # done meanwhile (a second run, or a concurrent one)
    items.start_over(ctx.db, job.item_id)
    if item.submission_id is not None:  # else past retention: the item goes on alone
        submissions.move(
            ctx.db,
            item.submission_id,
            SUBMISSION_FINAL,
            SubmissionStatus.PROCESSING,
            error_code=None,
            error_detail=None,
        )
    turns.start(ctx, item.sub)
    return None
