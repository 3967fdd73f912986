"""The sweeper: the database is the system of record, so whatever the broker lost or never delivered
(a SIGKILLed worker's messages, a Redis restart, a failed retry-enqueue) is found there and sent again.

It re-enqueues work that has not moved for `stale_after_s`, and gives up on items delivered
`max_deliveries` times without finishing (a photo that keeps killing its worker is not retried forever).
Re-enqueueing is always safe: every step checks the ledger first.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from workers.context import Context
from workers.errors import DarkroomError, GaveUp
from workers.grants import keepalive
from workers.operations import retention
from workers.photos import completion, turns
from workers.queue import messages
from workers.store import health, items, notifications, security_events, submissions
from workers.store.models import Item, Submission, utcnow
from workers.store.states import ITEM_BEFORE_UPLOAD, SourceKind, SubmissionStatus

log = logging.getLogger(__name__)


def sweep(ctx: Context, since: datetime.datetime | None = None) -> Counter[str]:
    """Look once; return what was sent again, by kind. `since`: send again what has not moved since then, not
    only what has not for `stale_after_s` (after an outage, when messages may have been lost: recover).

    Each statement reads what is unfinished through an index of its own (migration 0008): a sweep costs what is
    in flight, not the years of finished rows. One row that fails (a token no key opens, a Google call) is
    counted as `errors` and logged; the pass goes on."""
    cutoff = utcnow() - datetime.timedelta(seconds=ctx.settings.stale_after_s)
    if since is not None:
        cutoff = max(cutoff, since)
    done: Counter[str] = Counter()

    def each(what: str, work: Callable[..., str], *args: Any) -> None:
        try:
            done[work(ctx, *args)] += 1
        except DarkroomError as exc:
            done["errors"] += 1
            log.warning("the sweep could not %s (%s: %s); it goes on", what, type(exc).__name__, exc)

    for row in submissions.stale(ctx.db, cutoff):
        each(f"resend submission {row.id}", _resend_submission, row)
    users: set[str] = set()
    # While the Library quota is spent every photo waits on a message of its own (workers.actors): they look
    # stuck, and are not. The sweep takes them up again once the quota is back.
    if ctx.quota.paused_until() is None:
        for item in items.stale(ctx.db, cutoff):
            each(f"resend item {item.id}", _resend_item, item, users)
        if released := turns.top_up(ctx):  # a turn some crash never handed on (workers.photos.turns)
            done["turns"] += released
        waited = utcnow() - datetime.timedelta(seconds=ctx.settings.batch_wait_s)
        for sub in set(items.users_waiting_for_batch(ctx.db, waited)) - users:
            messages.create_items(sub)  # no upload finished to ask for it (workers.photos.batches)
            done["create_items"] += 1
    for submission_id in submissions.complete_ids(ctx.db):
        each(f"finish submission {submission_id}", _finish, submission_id)
    for jti in security_events.unapplied(ctx.db, cutoff):
        messages.apply_security_event(jti)
        done["apply_security_event"] += 1
    window = utcnow() - datetime.timedelta(seconds=ctx.settings.repost_window_s)
    if forgotten := submissions.forget_redeemed_codes(ctx.db, window):
        log.info("%d redeemed codes past the repost window no longer find their submission", forgotten)
    for notification_id in notifications.due(ctx.db, (utcnow() - cutoff).total_seconds()):
        notifications.postpone(ctx.db, notification_id, utcnow())  # not again on the next pass
        messages.deliver_notification(notification_id)
        done["deliver_notification"] += 1
    done.pop("", None)
    if done:
        log.warning("sweeper sent stuck work again: %s", dict(done))
    return done


def _finish(ctx: Context, submission_id: str) -> str:
    completion.finish_if_complete(ctx, submission_id)
    return "finished"


def periodic_sweep(ctx: Context, _: str = "") -> None:
    """Sent every sweep interval by each maintenance process (workers.queue.middleware.Periodic): the first to
    claim the interval sweeps, the others find it claimed. One that fails leaves it to the next interval's: no
    dead letter for an operator to clear, and no retrying sweep piling up per interval through an outage."""
    try:
        if ctx.locks.claim("sweep", ctx.settings.sweep_interval_s * 0.9):
            sweep(ctx)
            retention.prune(ctx, max_batches=ctx.settings.prune_batches_per_sweep)
            keepalive.keep_alive(ctx)
            health.prune(ctx.db, health.hour_of(utcnow()) - 2 * health.WINDOW)  # a day past what anyone reads
    except DarkroomError as exc:
        log.warning(
            "the sweep failed (%s: %s); the next is in %.0f s", type(exc).__name__, exc, ctx.settings.sweep_interval_s
        )


def recover(ctx: Context, since_epoch_s: float) -> dict[str, int]:
    """After an outage of the database or Redis (workers.queue.middleware.Watch): whatever has not moved since
    `since_epoch_s` may have lost its message, so it is sent again now, not when it turns stale."""
    since = datetime.datetime.fromtimestamp(since_epoch_s, datetime.UTC).replace(tzinfo=None)
    return dict(sweep(ctx, since))


def _resend_submission(ctx: Context, row: Submission) -> str:
    kind = _resent(row)
    submissions.touch(ctx.db, row.id)
    return kind


def _resent(row: Submission) -> str:
    if row.code_secret is not None and row.status in (SubmissionStatus.QUEUED, SubmissionStatus.EXCHANGING):
        messages.exchange_code(row.id)
        return "exchange_code"
    if row.status == SubmissionStatus.EXCHANGING and row.sub is not None:
        actor = "open_picker" if row.source == SourceKind.PICKER else "scan_inbox"
        messages.send(actor, row.id)
        return actor
    if row.status == SubmissionStatus.AWAITING_PICK:
        messages.poll_picker(row.id, delay_ms=0)
        return "poll_picker"
    return ""


def _resend_item(ctx: Context, item: Item, users: set[str]) -> str:
    if item.attempts >= ctx.settings.max_deliveries:
        detail = f"gave up after {item.attempts} deliveries without finishing (the photo may crash workers)"
        items.fail(ctx.db, item.id, GaveUp.error_code, detail)
        turns.next_turn(ctx, item.sub)
        messages.create_items(item.sub)  # the user's other photos may have been waiting for this one
        return "gave_up"
    items.touch(ctx.db, [item.id])
    if item.state in ITEM_BEFORE_UPLOAD:
        messages.process_item(item.id)
        return "process_item"
    if item.sub not in users:
        users.add(item.sub)
        messages.create_items(item.sub)
        return "create_items"
    return ""
