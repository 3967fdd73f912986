"""The inbox source: what the app put in the inbox album becomes items, once per recipe."""

from __future__ import annotations

from tests.support.stub import exchanged
from workers.intake import queries
from workers.photos import inbox
from workers.store import submissions


def test_the_inbox_album_fans_out_once(uc, admin):
    done = exchanged(uc, admin, source="inbox")
    admin.fill_album(done.sub, uc.ctx.settings.inbox_album_title, photos=3, width=64, height=48)
    inbox.scan_inbox(uc.ctx, done.submission_id)
    assert len(uc.take("process_item")) == 3
    inbox.scan_inbox(uc.ctx, done.submission_id)  # redelivered: the submission has moved on
    assert uc.sent("process_item") == []


def test_no_inbox_album_is_nothing_to_do_and_done(uc, admin):
    done = exchanged(uc, admin, source="inbox")
    inbox.scan_inbox(uc.ctx, done.submission_id)
    view = queries.view(uc.ctx.db, done.submission_id)
    assert (
        view is not None
        and view["status"] == "done"
        and view["counts"] == {"total": 0, "done": 0, "failed": 0, "skipped": 0, "waiting": 0}
    )


def test_since_means_first_seen_by_darkroom_not_when_the_photo_was_taken(uc, admin):
    import datetime

    from workers.store.states import SourceKind

    done = exchanged(uc, admin, source="inbox")
    title = uc.ctx.settings.inbox_album_title
    admin.fill_album(done.sub, title, photos=2, width=64, height=48)
    inbox.scan_inbox(uc.ctx, done.submission_id)  # darkroom has seen these two
    uc.stub.flush_all()
    since = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    # Today the app adds photos taken years ago: their creationTime is long before `since`.
    admin.fill_album(done.sub, title, photos=2, width=64, height=48, seed=10, taken="2019-05-01T10:00:00Z")
    again = submissions.open_internal(uc.ctx.db, done.sub, SourceKind.INBOX, since)
    inbox.scan_inbox(uc.ctx, again)
    assert len(uc.sent("process_item")) == 2  # the old photos added today, not the two seen before
