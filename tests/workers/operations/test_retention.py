"""Retention (DARKROOM_RETENTION_DAYS): what is let go, what is kept for reprocessing, and tables that stay flat
over many simulated days, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy

from settings import Settings
from tests.support.stub import Harness, harness, picked
from tests.workers.store.conftest import dump
from workers.grants import revocation
from workers.operations import retention
from workers.photos import completion
from workers.store import items, submissions
from workers.store.items import Source
from workers.store.models import utcnow
from workers.store.states import SourceKind, SubmissionStatus

DAY = datetime.timedelta(days=1)


@pytest.fixture
def h(settings: Settings, database_url: str) -> Iterator[Harness]:
    with harness(settings.model_copy(update={"database_url": database_url, "retention_days": 30.0})) as running:
        yield running


def test_a_finished_pick_is_let_go_and_an_inbox_ledger_row_kept_stripped(h, admin):
    done, [photo] = picked(h, admin, photos=1)
    inbox = submissions.open_internal(h.ctx.db, done.sub, SourceKind.INBOX, None)
    found = [Source("inbox-media-1", "https://lh3.example/secret-base", "IMG_0001.jpg", "image/jpeg")]
    [scanned] = items.add(h.ctx.db, inbox, done.sub, SourceKind.INBOX, h.ctx.settings.recipe, found)
    items.mark_done_many(h.ctx.db, {photo: "out-1", scanned: "out-2"})
    completion.finish_if_complete(h.ctx, done.submission_id)
    submissions.move(h.ctx.db, inbox, (SubmissionStatus.EXCHANGING,), SubmissionStatus.DONE)

    assert retention.prune(h.ctx, now=utcnow() + 29 * DAY) == {}
    assert retention.due(h.ctx, now=utcnow() + 31 * DAY)["submissions"] == 2
    gone = retention.prune(h.ctx, now=utcnow() + 31 * DAY)
    assert gone["submissions"] == 2 and gone["items"] == 1 and gone["ledger"] == 1
    assert submissions.get(h.ctx.db, done.submission_id) is None and items.get(h.ctx.db, photo) is None
    kept = items.get(h.ctx.db, scanned)
    assert kept is not None and kept.state == "done" and kept.source_media_id == "inbox-media-1"
    assert (kept.submission_id, kept.base_url, kept.filename, kept.output_media_id) == (None, None, None, None)
    # What reprocessing needs: a second scan of the inbox finds the photo done, and sends nothing.
    again = submissions.open_internal(h.ctx.db, done.sub, SourceKind.INBOX, None)
    assert items.add(h.ctx.db, again, done.sub, SourceKind.INBOX, h.ctx.settings.recipe, found) == []
    assert "secret-base" not in dump(h.ctx.db) and "IMG_0001" not in dump(h.ctx.db)
    assert retention.due(h.ctx, now=utcnow() + 31 * DAY)["submissions"] == 0


def test_a_deleted_user_leaves_nothing_that_names_them_after_the_window(h, admin):
    done, [photo] = picked(h, admin, photos=1)
    items.mark_done_many(h.ctx.db, {photo: "out-1"})
    completion.finish_if_complete(h.ctx, done.submission_id)
    revocation.revoke_user(h.ctx, done.sub)  # DELETE /v1/me: revoked at Google, and forgotten
    assert done.sub in dump(h.ctx.db)  # the tombstone, and the notifications telling the app
    retention.prune(h.ctx, now=utcnow() + 31 * DAY)
    assert done.sub not in dump(h.ctx.db)


def test_tables_stay_flat_over_many_days(h):
    """Sixty days of 20 finished picks a day, 5 photos each, with their notifications: from the window on,
    every table holds the same number of rows."""
    start = utcnow() - 60 * DAY
    sizes = []
    for day in range(60):
        at = start + day * DAY
        _finished_day(h, at, picks=20, photos=5)
        retention.prune(h.ctx, now=at)
        sizes.append(_sizes(h))
    assert sizes[-1]["items"] > 0 and all(size == sizes[-1] for size in sizes[31:]), sizes[29:]
    assert sizes[-1]["submissions"] == 31 * 20 and sizes[-1]["notifications"] == 31 * 20


def _finished_day(h: Harness, at: datetime.datetime, picks: int, photos: int) -> None:
    subs, its, notes = [], [], []
    for _ in range(picks):
        sid = secrets.token_hex(16)
        sub = f"user-{secrets.token_hex(4)}"
        times = {"created_at": at, "updated_at": at}
        subs.append(
            {"id": sid, "code_hash": f"redeemed:{sid}", "source": "picker", "status": "done", "sub": sub, **times}
        )
        for n in range(photos):
            its.append(
                {
                    "id": secrets.token_hex(16),
                    "submission_id": sid,
                    "sub": sub,
                    "source": "picker",
                    "source_media_id": f"m{n}",
                    "recipe": "auto-v1",
                    "state": "done",
                    "base_url": "https://lh3.example/base",
                    "attempts": 1,
                    **times,
                }
            )
        notes.append(
            {
                "id": secrets.token_hex(16),
                "channel": "webhook",
                "event_type": "submission.done",
                "submission_id": sid,
                "sub": sub,
                "payload": "{}",
                "state": "delivered",
                "attempts": 1,
                "next_attempt_at": at,
                "created_at": at,
            }
        )
    with h.ctx.db.engine.begin() as c:
        meta = sqlalchemy.MetaData()
        for name, rows in (("submissions", subs), ("items", its), ("notifications", notes)):
            c.execute(sqlalchemy.Table(name, meta, autoload_with=c).insert(), rows)


def _sizes(h: Harness) -> dict[str, int]:
    with h.ctx.db.engine.connect() as c:
        return {
            name: int(c.execute(sqlalchemy.text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in ("submissions", "items", "notifications")
        }


def test_a_finished_submission_s_push_token_is_dropped_after_its_push_s_retry_window(h, admin):
    user = admin.add_user()
    [(sid, _)] = submissions.record_many(
        h.ctx.db, h.ctx.vault, [(admin.mint_code(user["sub"]), "picker", "ios", "fcm-1")]
    )
    submissions.fail(h.ctx.db, sid, "code_rejected", "refused")
    assert submissions.push_token_of(h.ctx.db, h.ctx.vault, sid) == "fcm-1"
    assert retention.prune(h.ctx, now=utcnow() + datetime.timedelta(hours=12)) == {}  # its push may still retry
    assert retention.prune(h.ctx, now=utcnow() + 2 * DAY) == {"push_tokens": 1}
    assert submissions.push_token_of(h.ctx.db, h.ctx.vault, sid) is None and submissions.get(h.ctx.db, sid)


def test_darkroom_prune_counts_then_lets_go_with_progress(h):
    from tests.support.processes import cli, env_of

    _finished_day(h, utcnow() - 40 * DAY, picks=20, photos=5)
    _finished_day(h, utcnow() - DAY, picks=3, photos=5)
    env = env_of(h.ctx.settings)
    dry = cli("prune", "--dry-run", env=env)
    assert dry.returncode == 0 and "older than 30 days: 20 submissions, 20 notifications" in dry.stdout, dry
    assert _sizes(h) == {"submissions": 23, "items": 115, "notifications": 23}  # --dry-run changed nothing
    done = cli("prune", env=env)
    assert done.returncode == 0 and done.stdout == "let go: 20 submissions, 100 items, 20 notifications\n"
    assert "let go so far: 20 submissions, 100 items, 20 notifications" in done.stderr
    assert _sizes(h) == {"submissions": 3, "items": 15, "notifications": 3}
