"""What a message that failed for good leaves behind: the submission or item marked failed, with a reason
the app can act on. Called by the broker's GiveUp middleware.
"""

from __future__ import annotations

import logging

from workers import fanout, messages, metrics
from workers.context import Context
from workers.errors import DarkroomError, ScopeMissing
from workers.store import items, submissions

log = logging.getLogger(__name__)


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
    metrics.photo_finished("failed")
    log.warning("item failed: %s", code, extra={"item_id": item_id})
    item = items.get(ctx.db, item_id)
    if item is not None:
        messages.create_items(item.sub)  # a batch may have been waiting for this item
        fanout.finish_if_complete(ctx, item.submission_id)
