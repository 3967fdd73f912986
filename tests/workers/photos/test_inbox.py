"""The inbox source: what the app put in the inbox album becomes items, once per recipe."""

from __future__ import annotations

from tests.support.stub import exchanged
from workers.photos import inbox


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
    view = inbox.submissions.status_view(uc.ctx.db, done.submission_id)
    assert view is not None and view["status"] == "done" and view["counts"] == {"total": 0}
