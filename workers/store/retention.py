"""What is let go after the retention window, in small batches, each its own short transaction.

Past `cutoff`:
- a finished submission (done or failed) is deleted. Its items that came from the Picker go with it. Its
  inbox items stay as ledger rows, stripped to what reprocessing needs to find nothing left to do (the user,
  the source media id, the recipe, the state, its error code): no base URL, file name, output media id, upload
  token or error detail, and no submission;
- a notification no longer pending (delivered, dropped, dead) is deleted, and with it the `sub` it names;
- an applied security event is deleted (Google does not redeliver an event that old);
- a deleted user's tombstone (the grant row in state `deleted`) is deleted: nothing names them any more.
And a finished submission's push token is dropped once its outcome's push had its retry window.

Every statement finds its rows through an index (migration 0008) and touches at most `batch` of them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, delete, func, select, update

from workers.store import items
from workers.store.db import Database, changed
from workers.store.models import Grant, Item, Notification, SecurityEvent, Submission
from workers.store.states import SUBMISSION_FINAL, GrantState, NotificationState, SourceKind

_SUBMISSIONS = cast(Table, Submission.__table__)
_ITEMS = cast(Table, Item.__table__)
_NOTIFICATIONS = cast(Table, Notification.__table__)
_EVENTS = cast(Table, SecurityEvent.__table__)
_GRANTS = cast(Table, Grant.__table__)
KINDS = ("submissions", "items", "ledger", "notifications", "security_events", "tombstones", "push_tokens")
_NOT_PENDING = (NotificationState.DELIVERED, NotificationState.DROPPED, NotificationState.DEAD)


def _due(cutoff: datetime, push_cutoff: datetime) -> dict[str, Select[Any]]:
    """The ids each kind lets go, oldest first where it matters; `prune_batch` takes a batch of each, `backlog`
    counts them. A finished submission goes only while none of its items is on its way (a reprocess may have
    started one over: the submission is then processing again, but between the two it must stay)."""
    open_item = select(_ITEMS.c.id).where(_ITEMS.c.submission_id == _SUBMISSIONS.c.id, items.UNFINISHED)
    finished = _SUBMISSIONS.c.status.in_(SUBMISSION_FINAL)
    return {
        "submissions": select(_SUBMISSIONS.c.id)
        .where(_SUBMISSIONS.c.updated_at < cutoff, finished, ~open_item.exists())
        .order_by(_SUBMISSIONS.c.updated_at),
        "notifications": select(_NOTIFICATIONS.c.id).where(
            _NOTIFICATIONS.c.created_at < cutoff, _NOTIFICATIONS.c.state.in_(_NOT_PENDING)
        ),
        "security_events": select(_EVENTS.c.jti).where(
            _EVENTS.c.received_at < cutoff, _EVENTS.c.applied_at.is_not(None)
        ),
        "tombstones": select(_GRANTS.c.sub).where(_GRANTS.c.updated_at < cutoff, _GRANTS.c.state == GrantState.DELETED),
        "push_tokens": select(_SUBMISSIONS.c.id).where(
            _SUBMISSIONS.c.push_secret.is_not(None), _SUBMISSIONS.c.updated_at < push_cutoff, finished
        ),
    }


_KEYS = {
    "notifications": (_NOTIFICATIONS, _NOTIFICATIONS.c.id),
    "security_events": (_EVENTS, _EVENTS.c.jti),
    "tombstones": (_GRANTS, _GRANTS.c.sub),
}


def prune_batch(db: Database, cutoff: datetime, push_cutoff: datetime, batch: int) -> Counter[str]:
    """One batch of each kind, each in its own transaction; what was let go, by kind (all zero: nothing is left
    to do)."""
    done: Counter[str] = Counter({kind: 0 for kind in KINDS})
    for kind, chosen in _due(cutoff, push_cutoff).items():
        with db.connection() as c:
            ids = list(c.execute(chosen.limit(batch)).scalars())
            if not ids:
                continue
            if kind == "submissions":
                done.update(_submissions(c, ids))
            elif kind == "push_tokens":
                query = update(_SUBMISSIONS).where(_SUBMISSIONS.c.id.in_(ids)).values(push_secret=None)
                done[kind] += changed(c.execute(query))
            else:
                table, key = _KEYS[kind]
                done[kind] += changed(c.execute(delete(table).where(key.in_(ids))))
    return done


def _submissions(c: Connection, ids: list[str]) -> Counter[str]:
    done: Counter[str] = Counter()
    theirs = _ITEMS.c.submission_id.in_(ids)
    done["items"] = changed(c.execute(delete(_ITEMS).where(theirs, _ITEMS.c.source != SourceKind.INBOX)))
    stripped = {
        "submission_id": None,
        "base_url": None,
        "filename": None,
        "output_media_id": None,
        "upload_secret": None,
        "error_detail": None,
    }
    done["ledger"] = changed(c.execute(update(_ITEMS).where(theirs).values(**stripped)))
    done["submissions"] = changed(c.execute(delete(_SUBMISSIONS).where(_SUBMISSIONS.c.id.in_(ids))))
    return done


def backlog(db: Database, cutoff: datetime, push_cutoff: datetime, cap: int) -> dict[str, int]:
    """How many rows wait to be let go, by kind, counted up to `cap` each (through the same indexes): zero or
    small when pruning keeps up."""
    with db.connection() as c:
        return {
            kind: int(c.execute(select(func.count()).select_from(chosen.limit(cap).subquery())).scalar_one())
            for kind, chosen in _due(cutoff, push_cutoff).items()
        }
