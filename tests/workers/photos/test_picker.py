"""The Picker source: open, poll at Google's interval, fan out; an expired session and a 429 as the tree says."""

from __future__ import annotations

import time

import dramatiq
import pytest

from tests.support.stub import exchanged
from workers.errors import PickerExpired, RateLimited
from workers.intake import queries
from workers.photos import picker
from workers.store import albums, submissions
from workers.store.states import AlbumPurpose, SubmissionStatus


def test_opening_the_picker_shows_its_link_and_polls_it(uc, admin):
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    view = queries.view(uc.ctx.db, done.submission_id)
    assert view is not None and view["status"] == SubmissionStatus.AWAITING_PICK
    assert view["picker_uri"].startswith(admin.url)
    assert uc.sent("poll_picker") == [(done.submission_id,)]


def test_a_session_not_picked_yet_is_polled_again(uc, admin):
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    uc.stub.flush_all()
    picker.poll_picker(uc.ctx, done.submission_id)
    assert uc.sent("poll_picker") == [(done.submission_id,)] and uc.sent("process_item") == []


def test_two_copies_of_a_poll_leave_one_chain_of_polls(uc, admin):
    """After an outage everything unfinished is sent again (workers.queue.middleware.Watch): a session whose
    chain of polls lived through it must not be polled twice as often from then on."""
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    uc.stub.flush_all()
    picker.poll_picker(uc.ctx, done.submission_id)
    picker.poll_picker(uc.ctx, done.submission_id)  # the copy sent again
    assert uc.sent("poll_picker") == [(done.submission_id,)]


def test_a_pick_becomes_one_item_message_each_and_the_target_album(uc, admin):
    done = exchanged(uc, admin, photos=3)
    picker.open_picker(uc.ctx, done.submission_id)
    admin.pick(sub=done.sub)
    picker.poll_picker(uc.ctx, done.submission_id)
    assert len(uc.sent("process_item")) == 3
    assert submissions.get(uc.ctx.db, done.submission_id).status == SubmissionStatus.PROCESSING
    assert albums.of(uc.ctx.db, done.sub, AlbumPurpose.TARGET) is not None


def test_a_session_gone_before_the_pick_is_picker_expired(uc, admin):
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    admin.inject_fault("picker.sessions.get", status=404)
    with pytest.raises(PickerExpired):
        picker.poll_picker(uc.ctx, done.submission_id)


def test_a_429_while_polling_is_rate_limited_with_googles_delay(uc, admin):
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    admin.inject_fault("picker.sessions.get", status=429, retry_after_s=31)
    with pytest.raises(RateLimited) as raised:
        picker.poll_picker(uc.ctx, done.submission_id)
    assert raised.value.delay_s == 31


def test_polling_stops_when_googles_timeout_in_runs_out(uc, admin):
    admin.set_lifetimes(picker_timeout_s=0.3)  # the session lives on; the polling time does not
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    [(_,)] = uc.take("poll_picker")
    time.sleep(0.4)
    with pytest.raises(PickerExpired):
        picker.poll_picker(uc.ctx, done.submission_id)
    assert uc.sent("poll_picker") == []


def next_poll_in_ms(uc, admin, **lifetimes: float) -> float:
    """How long after a first poll that finds nothing picked the next one is due."""
    admin.set_lifetimes(**lifetimes)
    done = exchanged(uc, admin, photos=1)
    picker.open_picker(uc.ctx, done.submission_id)
    uc.stub.flush_all()
    picker.poll_picker(uc.ctx, done.submission_id)
    [raw] = list(uc.stub.queues["maintenance.DQ"].queue)
    return float(dramatiq.Message.decode(raw).options["eta"] - time.time() * 1000)


def test_a_poll_before_the_timeout_waits_no_longer_than_what_is_left(uc, admin):
    # not Google's 5 s interval: polling ends before that
    assert next_poll_in_ms(uc, admin, picker_timeout_s=2, poll_interval_s=5) <= 2100


def test_a_poll_interval_past_a_minute_waits_a_minute_at_most(uc, admin):
    assert next_poll_in_ms(uc, admin, picker_timeout_s=86_400, poll_interval_s=10_000_000.0) <= 60_100
