"""Keep-alive: Google ends a refresh token unused for six months, so a user who comes back after seven would
find darkroom could no longer act for them though they never revoked anything. The maintenance worker's sweep
refreshes the grants idle for DARKROOM_GRANT_KEEPALIVE_DAYS (as Nango's daily refresh of idle connections does:
../shared/reference/operations.md §4), each through the user's single-flight refresh (never two at once for one
user, and not while the user's refreshes cool down), a few per sweep, each at its own time of the day."""

from __future__ import annotations

import collections
import datetime
import hashlib
import logging
import time

from workers.context import Context
from workers.errors import DarkroomError, GrantRevoked, RefreshWait
from workers.grants import tokens
from workers.store import grants
from workers.store.models import utcnow

log = logging.getLogger(__name__)

PER_SWEEP = 50  # at a sweep a minute, 72,000 grants a day; each is one call to Google's token endpoint
BUDGET_S = 20.0  # and no new one past this much of the sweep's time: a slow token endpoint holds no thread long
CANDIDATES = 1000
DAY_S = 86_400


def _hour_of(sub: str) -> datetime.timedelta:
    """The user's own time of the day (0 to 24 h, from the sub): the day's grants come due spread over it."""
    return datetime.timedelta(seconds=int.from_bytes(hashlib.sha256(sub.encode()).digest()[:4], "big") % DAY_S)


def keep_alive(ctx: Context, budget_s: float = BUDGET_S) -> dict[str, int]:
    """Refresh up to PER_SWEEP grants idle for the keep-alive's days (and their time of the day), starting
    none after `budget_s`; how many were `refreshed`, had `ended` at Google (invalid_grant: revoked here, as any
    refresh would), were `cooling` after a failure, or `failed`. The rest wait for the next sweep."""
    days = ctx.settings.grant_keepalive_days
    if days <= 0:
        return {}
    now, idle = utcnow(), datetime.timedelta(days=days)
    due = [sub for sub, used in grants.idle(ctx.db, now - idle, CANDIDATES) if used + idle + _hour_of(sub) <= now]
    counts: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + budget_s
    for sub in due[:PER_SWEEP]:
        if time.monotonic() > deadline:
            break
        try:
            access = grants.access_of(ctx.db, ctx.vault, sub)
            tokens.refresh(ctx, sub, stale=access.token if access else None)
            counts["refreshed"] += 1
        except GrantRevoked:
            counts["ended"] += 1
        except RefreshWait:
            counts["cooling"] += 1
        except DarkroomError as exc:
            counts["failed"] += 1
            log.warning("keep-alive of a grant failed: %s", exc, extra={"sub": sub})
    if counts:
        log.info("keep-alive: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return dict(counts)
