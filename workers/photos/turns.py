"""Fair share of the photos queue: each user has at most `photos_user_window` photos queued or in work at once.

A pick records every photo in the ledger, but only the first few get a `process_item` message; the rest are
`held`. Each photo that leaves the user's turn (uploaded, or failed for good) releases the user's next held
one, whose message goes to the back of the queue. So the broker stays the scheduler and serves users in turn:
a user who signs in while another's 2,000 photos wait finds at most `window` of them ahead of each active user,
and every active user's photos move at the same rate, which also splits what is left of a tight day's quota
between them. The ledger is still the system of record: a release that lost its message (a crash between the
two) is a queued item the sweeper sends again, and a turn that was never taken up is topped up by the sweeper.
"""

from __future__ import annotations

from workers.context import Context
from workers.queue import messages
from workers.store import items

AFTER_EACH = 1  # photos released by each one that leaves its turn


def start(ctx: Context, sub: str) -> int:
    """Release as many of the user's held photos as their window has room for (a pick's fan-out)."""
    return _release(ctx, sub, ctx.settings.photos_user_window - items.in_flight(ctx.db, sub))


def next_turn(ctx: Context, sub: str) -> None:
    """One of the user's photos left its turn: the next one held takes it."""
    _release(ctx, sub, AFTER_EACH)


def released(ids: tuple[str, ...]) -> None:
    """The photos a finished upload released in its own transaction (hotpath.record_upload): their messages."""
    messages.process_items(list(ids))


def top_up(ctx: Context) -> int:
    """Every user with photos held and room in their window gets them released (the sweeper's repair)."""
    due = items.turns_due(ctx.db, ctx.settings.photos_user_window)
    return sum(_release(ctx, sub, room) for sub, room in due.items())


def _release(ctx: Context, sub: str, n: int) -> int:
    """Up to `n` of the user's held photos queued, each with its message; how many."""
    released = items.release(ctx.db, sub, n)
    messages.process_items(released)
    return len(released)
