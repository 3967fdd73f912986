"""How a submission ends: done once none of its items is on its way, or failed with a reason the app can act
on. `submission_failed` and `item_failed` are the actors' `on_give_up`: what a message that failed for good
leaves behind."""

from __future__ import annotations

import logging

from workers import metrics
from workers.context import Context
from workers.errors import DarkroomError, ScopeMissing
from workers.grants import tokens
from workers.photos import turns
from workers.queue import messages
from workers.store import items, submissions
from workers.store.states import ItemState, SubmissionStatus

log = logging.getLogger(__name__)


def finish_if_complete(ctx: Context, submission_id: str | None) -> None:
    """`submission_id` None: the item's submission is past retention (an inbox ledger row), nothing to finish."""
    if submission_id is None or items.unfinished(ctx.db, submission_id):
        return
    if not submissions.move(ctx.db, submission_id, (SubmissionStatus.PROCESSING,), SubmissionStatus.DONE):
        return
    row = submissions.get(ctx.db, submission_id)
    if row is not None:
        metrics.code_to_album((row.updated_at - row.created_at).total_seconds())
    if row and row.sub and row.picker_session_id:
        # Google asks apps to delete a session once its items are downloaded.
        with tokens.photos_for(ctx, row.sub) as photos:
            photos.delete_picker_session(row.picker_session_id)
    log.info("submission done", extra={"submission_id": submission_id})


def _reason(exc: BaseException | None, skipped: str) -> tuple[str, str]:
    if exc is None:
        return "internal", skipped
    if isinstance(exc, DarkroomError):
        return exc.error_code, str(exc)
    return "internal", f"unexpected {exc.__class__.__name__}; see the worker log"


def submission_failed(ctx: Context, submission_id: str, exc: BaseException | None) -> None:
    code, detail = _reason(exc, "the code waited too long to be exchanged")
    missing = exc.missing if isinstance(exc, ScopeMissing) else None
    submissions.fail(ctx.db, submission_id, code, detail, missing)
    log.warning("submission failed: %s", code, extra={"submission_id": submission_id})


def item_failed(ctx: Context, item_id: str, exc: BaseException | None) -> None:
    code, detail = _reason(exc, "the item waited too long")
    items.fail(ctx.db, item_id, code, detail)
    metrics.photo_finished(ItemState.FAILED)
    log.warning("item failed: %s", code, extra={"item_id": item_id})
    item = items.get(ctx.db, item_id)
    if item is not None:
        turns.next_turn(ctx, item.sub)
        messages.create_items(item.sub)  # a batch may have been waiting for this item
        finish_if_complete(ctx, item.submission_id)
