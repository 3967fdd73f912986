"""Retention: what darkroom lets go after `DARKROOM_RETENTION_DAYS` (workers.store.retention says what is kept).

The maintenance worker prunes a few batches after each sweep (a pass costs what is due, not the history);
`darkroom prune` runs it by hand to the end, with progress, or counts what is due with --dry-run."""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Callable

from workers.context import Context
from workers.store import retention
from workers.store.models import utcnow

log = logging.getLogger(__name__)
PUSH_SLACK_S = 3600.0  # past the notification retry window: no delivery will ask for the push token again


def cutoffs(ctx: Context, now: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """Before when rows are let go, and before when a finished submission's push token is."""
    now = now or utcnow()
    push = now - datetime.timedelta(seconds=ctx.settings.notify_retry_window_s + PUSH_SLACK_S)
    return now - datetime.timedelta(days=ctx.settings.retention_days), push


def prune(
    ctx: Context,
    now: datetime.datetime | None = None,
    max_batches: int | None = None,
    progress: Callable[[Counter[str]], None] | None = None,
) -> Counter[str]:
    """Batches until nothing is due (or `max_batches`); what was let go, by kind."""
    cutoff, push_cutoff = cutoffs(ctx, now)
    total: Counter[str] = Counter()
    batches = 0
    while max_batches is None or batches < max_batches:
        done = retention.prune_batch(ctx.db, cutoff, push_cutoff, ctx.settings.prune_batch)
        batches += 1
        total.update(done)
        if progress is not None:
            progress(total)
        if not any(done.values()):
            break
    total = Counter({kind: n for kind, n in total.items() if n})
    if total:
        log.info("retention let go what was older than %s: %s", cutoff.date(), dict(total))
    return total


def due(ctx: Context, now: datetime.datetime | None = None, cap: int = 100) -> dict[str, int]:
    """What waits to be let go, by kind, each counted up to `cap` (`darkroom status`: whether pruning keeps up)."""
    return retention.backlog(ctx.db, *cutoffs(ctx, now), cap=cap)
