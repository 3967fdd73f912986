"""The sweeper finds in the database what the broker lost, and sends it again."""

from __future__ import annotations

import datetime

from tests.support.stub import exchanged, picked, posted
from workers.operations import sweeper
from workers.store import items, submissions
from workers.store.models import Item, Submission


def _age(uc, model, row_id: str) -> None:
    long_ago = datetime.datetime(2000, 1, 1)
    with uc.ctx.db.session() as s:
        s.get(model, row_id).updated_at = long_ago


def test_a_code_never_enqueued_is_sent_to_the_exchange(uc, admin):
    done = posted(uc, admin)
    _age(uc, Submission, done.submission_id)
    assert sweeper.sweep(uc.ctx) == {"exchange_code": 1}
    assert uc.sent("exchange_code") == [(done.submission_id,)]
    assert submissions.get(uc.ctx.db, done.submission_id).updated_at.year > 2000


def test_an_exchanged_code_whose_picker_was_lost_opens_it(uc, admin):
    done = exchanged(uc, admin)
    uc.stub.flush_all()
    _age(uc, Submission, done.submission_id)
    assert sweeper.sweep(uc.ctx) == {"open_picker": 1} and uc.sent("open_picker") == [(done.submission_id,)]


def test_a_stuck_item_is_sent_again_and_one_delivered_too_often_given_up(uc, admin):
    done, [first, second] = picked(uc, admin, photos=2)
    with uc.ctx.db.session() as s:
        s.get(Item, second).attempts = uc.ctx.settings.max_deliveries
    for item_id in (first, second):
        _age(uc, Item, item_id)
    assert sweeper.sweep(uc.ctx) == {"process_item": 1, "gave_up": 1}
    assert uc.sent("process_item") == [(first,)] and uc.sent("create_items") == [(done.sub,)]
    assert items.get(uc.ctx.db, second).error_code == "gave_up"


def test_a_redeemed_code_stops_being_a_key_after_the_repost_window(uc, admin):
    """Security review row 10: the ciphertext goes at the exchange, the keyed hash after DARKROOM_REPOST_WINDOW_S."""
    from workers.context import Context

    user = admin.add_user()
    code = admin.mint_code(user["sub"])
    first, _ = submissions.record(uc.ctx.db, uc.ctx.vault, code, "picker")
    from workers.grants import exchange

    exchange.exchange_code(uc.ctx, first)
    assert submissions.get(uc.ctx.db, first).code_secret is None
    assert submissions.record(uc.ctx.db, uc.ctx.vault, code, "picker") == (first, False)  # a repost, in the window
    sweeper.sweep(Context(uc.ctx.settings.model_copy(update={"repost_window_s": 0.0})))
    again, created = submissions.record(uc.ctx.db, uc.ctx.vault, code, "picker")
    assert created and again != first  # the old code finds nothing: a new submission, which Google will refuse
    assert submissions.get(uc.ctx.db, first).code_hash == f"redeemed:{first}"


def test_an_upload_whose_batch_waited_too_long_is_asked_for_when_no_other_upload_finishes(uc, admin):
    """The user's other photo keeps retrying: no upload finishes to ask for the batch, so the sweeper does."""
    from workers.photos import upload

    done, [first, _] = picked(uc, admin, photos=2)
    upload.process_item(uc.ctx, first)
    uc.stub.flush_all()
    assert sweeper.sweep(uc.ctx) == {}  # it has not waited batch_wait_s yet
    with uc.ctx.db.session() as s:
        s.get(Item, first).uploaded_at = datetime.datetime(2000, 1, 1)
    assert sweeper.sweep(uc.ctx) == {"create_items": 1} and uc.sent("create_items") == [(done.sub,)]


def test_a_sweep_that_meets_an_outage_leaves_it_to_the_next_interval(uc, caplog):
    """Sent again every interval: a failed sweep is no dead letter for an operator to clear (CI saw one), and an
    outage does not pile up one retrying sweep per interval."""
    from workers.context import Context

    down = uc.ctx.settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:9/none"})
    sweeper.periodic_sweep(Context(down))
    assert "the sweep failed (Outage: the database is out of reach" in caplog.text


def test_submissions_a_crash_left_complete_are_finished_in_one_pass_which_one_failure_does_not_end(uc, admin):
    """The completion check is one statement for all processing submissions (not one session each), and a
    submission whose finish fails (Google refuses to delete its picker session) leaves the others finished."""
    first, [a] = picked(uc, admin, photos=1)
    second, [b] = picked(uc, admin, photos=1)
    items.mark_done_many(uc.ctx.db, {a: "media-a", b: "media-b"})  # and the worker died before finishing
    assert set(submissions.complete_ids(uc.ctx.db)) == {first.submission_id, second.submission_id}
    admin.inject_fault("picker.sessions.delete", status=400, count=1)
    done = sweeper.sweep(uc.ctx)
    assert done["finished"] == 1 and done["errors"] == 1
    for row in (first, second):
        assert submissions.get(uc.ctx.db, row.submission_id).status == "done"
    assert submissions.complete_ids(uc.ctx.db) == []
