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

from sqlalchemy import Connection, Table, delete, func, select, update

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


def _finished_submissions(cutoff: datetime, batch: int) -> Any:
    """Finished before `cutoff`, none of whose items is still on its way (a reprocess may have started one
    over: the submission is then processing again, but between the two it must stay)."""
    open_item = select(_ITEMS.c.id).where(_ITEMS.c.submission_id == _SUBMISSIONS.c.id, items.UNFINISHED)
    return (
        select(_SUBMISSIONS.c.id)
        .where(_SUBMISSIONS.c.updated_at < cutoff, _SUBMISSIONS.c.status.in_(SUBMISSION_FINAL), ~open_item.exists())
        .order_by(_SUBMISSIONS.c.updated_at)
        .limit(batch)
    )


def prune_batch(db: Database, cutoff: datetime, push_cutoff: datetime, batch: int) -> Counter[str]:
    """One batch of each kind; what was let go, by kind (all zero: nothing is left to do)."""
    done: Counter[str] = Counter({kind: 0 for kind in KINDS})
    with db.connection() as c:
        ids = list(c.execute(_finished_submissions(cutoff, batch)).scalars())
        if ids:
            done.update(_submissions(c, ids))
    with db.connection() as c:
        old = select(_NOTIFICATIONS.c.id).where(
            _NOTIFICATIONS.c.created_at < cutoff, _NOTIFICATIONS.c.state.in_(_NOT_PENDING)
        )
        done["notifications"] += _delete_ids(c, _NOTIFICATIONS, _NOTIFICATIONS.c.id, old.limit(batch))
    with db.connection() as c:
        old = select(_EVENTS.c.jti).where(_EVENTS.c.received_at < cutoff, _EVENTS.c.applied_at.is_not(None))
        done["security_events"] += _delete_ids(c, _EVENTS, _EVENTS.c.jti, old.limit(batch))
    with db.connection() as c:
        old = select(_GRANTS.c.sub).where(_GRANTS.c.updated_at < cutoff, _GRANTS.c.state == GrantState.DELETED)
        done["tombstones"] += _delete_ids(c, _GRANTS, _GRANTS.c.sub, old.limit(batch))
    with db.connection() as c:
        kept = select(_SUBMISSIONS.c.id).where(
            _SUBMISSIONS.c.push_secret.is_not(None),
            _SUBMISSIONS.c.updated_at < push_cutoff,
            _SUBMISSIONS.c.status.in_(SUBMISSION_FINAL),
        )
        ids = list(c.execute(kept.limit(batch)).scalars())
        if ids:
            query = update(_SUBMISSIONS).where(_SUBMISSIONS.c.id.in_(ids)).values(push_secret=None)
            done["push_tokens"] += changed(c.execute(query))
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


def _delete_ids(c: Connection, table: Table, key: Any, chosen: Any) -> int:
    ids = list(c.execute(chosen).scalars())
    return changed(c.execute(delete(table).where(key.in_(ids)))) if ids else 0


def backlog(db: Database, cutoff: datetime, push_cutoff: datetime, cap: int) -> dict[str, int]:
    """How many rows wait to be let go, by kind, counted up to `cap` each (through the same indexes): zero or
    small when pruning keeps up."""

    def count(query: Any) -> int:
        return int(c.execute(select(func.count()).select_from(query.limit(cap).subquery())).scalar_one())

    with db.connection() as c:
        return {
            "submissions": count(_finished_submissions(cutoff, cap)),
            "notifications": count(
                select(_NOTIFICATIONS.c.id).where(
                    _NOTIFICATIONS.c.created_at < cutoff, _NOTIFICATIONS.c.state.in_(_NOT_PENDING)
                )
            ),
            "security_events": count(
                select(_EVENTS.c.jti).where(_EVENTS.c.received_at < cutoff, _EVENTS.c.applied_at.is_not(None))
            ),
            "tombstones": count(
                select(_GRANTS.c.sub).where(_GRANTS.c.updated_at < cutoff, _GRANTS.c.state == GrantState.DELETED)
            ),
            "push_tokens": count(
                select(_SUBMISSIONS.c.id).where(
                    _SUBMISSIONS.c.push_secret.is_not(None),
                    _SUBMISSIONS.c.updated_at < push_cutoff,
                    _SUBMISSIONS.c.status.in_(SUBMISSION_FINAL),
                )
            ),
        }
