"""Fair share: a user's photos go to the photos queue a window at a time, each upload handing its turn on."""

from __future__ import annotations

import datetime

from tests.support.stub import picked
from workers.intake import queries
from workers.operations import sweeper
from workers.photos import completion, upload
from workers.store import items
from workers.store.models import Item
from workers.store.states import ItemState


def _states(uc, sub: str) -> dict[str, int]:
    with uc.ctx.db.session() as s:
        rows = s.query(Item.state).filter(Item.sub == sub).all()
    found: dict[str, int] = {}
    for (state,) in rows:
        found[state] = found.get(state, 0) + 1
    return found


def test_a_pick_sends_one_window_of_messages_and_holds_the_rest_in_the_ledger(uc, admin):
    window = uc.ctx.settings.photos_user_window
    done, sent = picked(uc, admin, photos=window + 5)
    assert len(sent) == window
    assert _states(uc, done.sub) == {ItemState.QUEUED: window, ItemState.HELD: 5}
    counts = queries.status(uc.ctx, done.submission_id)["counts"]  # type: ignore[index]
    assert counts == {"total": window + 5, "done": 0, "failed": 0, "skipped": 0, "waiting": window + 5}


def test_each_upload_and_each_failure_hands_the_turn_to_the_users_oldest_held_photo(uc, admin):
    window = uc.ctx.settings.photos_user_window
    done, sent = picked(uc, admin, photos=window + 2)
    with uc.ctx.db.session() as s:
        held = [row.id for row in s.query(Item).filter(Item.state == ItemState.HELD).order_by(Item.created_at, Item.id)]
    upload.process_item(uc.ctx, sent[0])
    assert uc.take("process_item") == [(held[0],)]
    completion.item_failed(uc.ctx, sent[1], None)
    assert uc.take("process_item") == [(held[1],)]
    completion.item_failed(uc.ctx, sent[2], None)
    assert uc.take("process_item") == []  # nothing held is left: the window just has room
    assert _states(uc, done.sub).get(ItemState.HELD, 0) == 0


def test_a_stray_message_for_a_held_photo_does_nothing_until_its_turn(uc, admin):
    window = uc.ctx.settings.photos_user_window
    _done, _ = picked(uc, admin, photos=window + 1)
    with uc.ctx.db.session() as s:
        [held] = [row.id for row in s.query(Item).filter(Item.state == ItemState.HELD)]
    upload.process_item(uc.ctx, held)
    item = items.get(uc.ctx.db, held)
    assert item is not None and item.state == ItemState.HELD and item.attempts == 0
    assert "library.uploads" not in admin.counts()


def test_a_turn_no_one_handed_on_is_released_by_the_sweeper(uc, admin):
    """A worker died between an upload and handing on its turn: the user's held photos would wait forever."""
    window = uc.ctx.settings.photos_user_window
    done, sent = picked(uc, admin, photos=window + 3)
    with uc.ctx.db.session() as s:  # the window's photos finished, and no turn was handed on
        for row in s.query(Item).filter(Item.id.in_(sent)):
            row.state, row.output_media_id = ItemState.DONE, "made"
    assert sweeper.sweep(uc.ctx) == {"turns": 3}
    assert len(uc.take("process_item")) == 3 and _states(uc, done.sub)[ItemState.QUEUED] == 3
    assert sweeper.sweep(uc.ctx) == {}  # in flight now: not released twice


def test_held_photos_are_not_stale_work_for_the_sweeper(uc, admin):
    window = uc.ctx.settings.photos_user_window
    done, _ = picked(uc, admin, photos=window + 4)
    long_ago = datetime.datetime(2000, 1, 1)
    with uc.ctx.db.session() as s:
        for row in s.query(Item).filter(Item.sub == done.sub):
            row.updated_at = long_ago
    found = sweeper.sweep(uc.ctx)
    assert found == {"process_item": window}  # the window's messages look lost; the held ones wait their turn
    assert _states(uc, done.sub)[ItemState.HELD] == 4


def test_a_second_users_photos_are_sent_at_once_whatever_the_first_has_held(uc, admin):
    window = uc.ctx.settings.photos_user_window
    heavy, _ = picked(uc, admin, photos=window * 4)
    light, sent = picked(uc, admin, photos=3)
    assert len(sent) == 3 and _states(uc, light.sub) == {ItemState.QUEUED: 3}
    assert _states(uc, heavy.sub)[ItemState.HELD] == window * 3
