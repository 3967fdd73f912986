"""One delivery attempt of an outbox row, and what follows it: delivered; tried again later, on a doubling
backoff, for the retry window (a day and more); or a dead letter an operator replays.

An attempt is counted before it is made. A row already settled is not sent again; a replayed dead letter gets
one more attempt. The message's own retries are not used: waits of an hour would hold a worker thread.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from workers import metrics
from workers.context import Context
from workers.errors import GaveUp, PermanentError, TransientError
from workers.queue import messages
from workers.store import notifications
from workers.store.models import Notification, utcnow
from workers.store.states import NotificationState

log = logging.getLogger(__name__)
Send = Callable[[Context, Notification], None]


def deliver(ctx: Context, notification_id: str, send: dict[str, Send]) -> None:
    row = notifications.get(ctx.db, notification_id)
    if row is None or row.state in (NotificationState.DELIVERED, NotificationState.DROPPED):
        return
    replayed = row.state == NotificationState.DEAD
    notifications.attempt(ctx.db, notification_id)
    try:
        send[row.channel](ctx, row)
    except Dropped as exc:
        notifications.settle(ctx.db, notification_id, NotificationState.DROPPED, str(exc))
        metrics.notification(row.channel, "dropped")
        return
    except (TransientError, PermanentError) as exc:
        # A permanent refusal (FCM's INVALID_ARGUMENT, say) is no better in an hour: a dead letter at once.
        _failed(ctx, row, exc, final=replayed or isinstance(exc, PermanentError))
        return
    except Exception as exc:  # noqa: BLE001 - a bug of ours, or a library's error not translated: still settled
        log.error("%s: delivery failed: %s", row.event_type, type(exc).__name__, extra={"notification_id": row.id})
        _failed(ctx, row, exc, final=replayed)
        return
    if notifications.settle(ctx.db, notification_id, NotificationState.DELIVERED):
        metrics.notification(row.channel, "delivered", (utcnow() - row.created_at).total_seconds())
    log.info("%s delivered", row.event_type, extra={"notification_id": row.id, "channel": row.channel})


class Dropped(PermanentError):
    """The destination is gone for good (an unregistered device token): forget it, never try again."""


def _failed(ctx: Context, row: Notification, exc: Exception, final: bool) -> None:
    waited = (utcnow() - row.created_at).total_seconds()
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if final or waited >= ctx.settings.notify_retry_window_s:
        notifications.settle(ctx.db, row.id, NotificationState.DEAD, detail)
        metrics.notification(row.channel, "dead")
        # A permanent error makes the message a dramatiq dead letter, which `darkroom dead replay` sends again.
        raise GaveUp(f"{row.channel} {row.event_type} not delivered in {waited:.0f} s: {detail}")
    delay_s = _backoff_s(ctx, row.attempts + 1)
    notifications.retry_at(ctx.db, row.id, utcnow() + datetime.timedelta(seconds=delay_s), detail)
    metrics.notification(row.channel, "retrying")
    messages.deliver_notification(row.id, delay_ms=int(delay_s * 1000))
    log.warning(
        "%s not delivered (%s); again in %.0f s", row.event_type, detail, delay_s, extra={"notification_id": row.id}
    )


def _backoff_s(ctx: Context, attempts: int) -> float:
    return float(
        min(ctx.settings.notify_max_backoff_s, ctx.settings.notify_min_backoff_s * 2.0 ** max(0, attempts - 1))
    )
