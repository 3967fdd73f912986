"""Album items from uploads: one batchCreate per batch, exactly once, a refused album made anew."""

from __future__ import annotations

import pytest

from tests.support.stub import picked
from workers.errors import Unavailable
from workers.google.photos import MAX_BATCH
from workers.photos import batches, upload
from workers.queue import table
from workers.store import albums, items, submissions
from workers.store.states import AlbumPurpose, ItemState, SubmissionStatus


def uploaded(uc, admin, photos: int):
    done, item_ids = picked(uc, admin, photos=photos)
    for item_id in item_ids:
        upload.process_item(uc.ctx, item_id)
    uc.stub.flush_all()
    return done, item_ids


def test_uploaded_items_go_into_the_album_in_one_call_and_the_submission_is_done(uc, admin):
    done, item_ids = uploaded(uc, admin, photos=3)
    batches.create_items(uc.ctx, done.sub)
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.DONE}
    [album] = admin.state()["albums"]
    assert len(album["items"]) == 3 and admin.counts()["library.mediaItems.batchCreate"] == 1
    assert submissions.get(uc.ctx.db, done.submission_id).status == SubmissionStatus.DONE


def test_a_batch_asked_for_twice_creates_nothing_twice(uc, admin):
    done, _ = uploaded(uc, admin, photos=2)
    batches.create_items(uc.ctx, done.sub)
    batches.create_items(uc.ctx, done.sub)
    assert admin.counts()["library.mediaItems.batchCreate"] == 1 and len(admin.state()["albums"][0]["items"]) == 2


def test_an_uncertain_batch_is_settled_from_the_album_without_a_second_create(uc, admin):
    done, item_ids = uploaded(uc, admin, photos=2)
    batches.create_items(uc.ctx, done.sub)
    for item_id in item_ids:  # as if the worker died between batchCreate and its bookkeeping
        items.set_state(uc.ctx.db, item_id, ItemState.CREATING)
    batches.create_items(uc.ctx, done.sub)
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.DONE}
    assert admin.counts()["library.mediaItems.batchCreate"] == 1


def test_a_refused_album_is_forgotten_and_the_retry_finishes_the_items(uc, admin):
    done, item_ids = uploaded(uc, admin, photos=1)
    admin.inject_fault("library.mediaItems.batchCreate", status=400)
    with pytest.raises(Unavailable):
        batches.create_items(uc.ctx, done.sub)
    assert albums.of(uc.ctx.db, done.sub, AlbumPurpose.TARGET) is None
    batches.create_items(uc.ctx, done.sub)  # the retry
    assert items.get(uc.ctx.db, item_ids[0]).state == ItemState.DONE


def test_an_album_the_user_deleted_answers_404_and_a_new_one_takes_the_items(uc, admin):
    done, item_ids = uploaded(uc, admin, photos=2)
    old = albums.of(uc.ctx.db, done.sub, AlbumPurpose.TARGET)
    admin.delete_album(old)  # the user deleted "Enhanced by darkroom" in Google Photos
    with pytest.raises(Unavailable):
        batches.create_items(uc.ctx, done.sub)
    batches.create_items(uc.ctx, done.sub)  # the retry
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.DONE}
    [album] = admin.state()["albums"]
    assert album["id"] != old and len(album["items"]) == 2


def test_an_upload_token_no_key_opens_means_upload_again_not_a_loop(uc, admin):
    """Security review row 3: a token sealed under a key since dropped is uploaded anew, once."""
    from workers.store.sealed import ITEM_UPLOAD
    from workers.store.vault import Vault, new_key

    done, [item_id] = uploaded(uc, admin, photos=1)
    foreign = Vault([new_key().encode()[:32]])
    items.set_state(uc.ctx.db, item_id, ItemState.UPLOADED, upload_secret=ITEM_UPLOAD.seal(foreign, item_id, "t"))
    batches.create_items(uc.ctx, done.sub)
    assert items.get(uc.ctx.db, item_id).state == ItemState.QUEUED
    assert uc.take("process_item") == [(item_id,)] and "library.mediaItems.batchCreate" not in admin.counts()
    upload.process_item(uc.ctx, item_id)
    batches.create_items(uc.ctx, done.sub)
    assert items.get(uc.ctx.db, item_id).state == ItemState.DONE


def test_a_users_uploads_ask_for_one_batch_not_one_per_photo(uc, admin):
    done, item_ids = picked(uc, admin, photos=6)
    for item_id in item_ids[:-1]:
        upload.process_item(uc.ctx, item_id)
    assert uc.sent("create_items") == []  # more are coming, and soon enough to fill the batch
    upload.process_item(uc.ctx, item_ids[-1])
    assert uc.sent("create_items") == [(done.sub,)]  # nothing more is coming: one request
    for _ in uc.take("create_items"):
        batches.create_items(uc.ctx, done.sub)
    assert admin.counts()["library.mediaItems.batchCreate"] == 1
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.DONE}


def test_an_upload_after_the_batch_was_read_asks_again(uc, admin):
    """The soon request's claim ends before the batch is read: an upload the read missed is asked for anew."""
    done, [first, second] = picked(uc, admin, photos=2)
    upload.process_item(uc.ctx, first)
    uc.take("create_items")
    batches.create_items(uc.ctx, done.sub)  # finds only `first`: `second` is still coming
    upload.process_item(uc.ctx, second)
    assert (done.sub,) in uc.sent("create_items")
    for _ in uc.take("create_items"):
        batches.create_items(uc.ctx, done.sub)
    assert {items.get(uc.ctx.db, i).state for i in (first, second)} == {ItemState.DONE}


def test_a_batch_leaves_what_is_not_worth_a_call_to_the_uploads_still_coming(uc, admin):
    """After a batch, the uploads left over, with more coming, are asked for by those still coming. A message
    sent for them at once would find them not worth a call and send itself again: a loop of messages for
    each user until their next batch fills."""
    done, queued = picked(uc, admin, photos=MAX_BATCH + 2)
    asked = []
    while len(queued) > 1:  # all but the last photo uploaded
        upload.process_item(uc.ctx, queued.pop(0))
        asked += uc.sent("create_items")
        queued += [item_id for (item_id,) in uc.take("process_item")]
    assert asked == [(done.sub,)]  # the full batch asked for once
    batches.create_items(uc.ctx, done.sub)  # 49 into the album, one left uploaded, one coming
    assert admin.counts()["library.mediaItems.batchCreate"] == 1
    assert uc.sent("create_items") == []
    upload.process_item(uc.ctx, queued.pop())  # the last one asks for the rest
    assert uc.take("create_items") == [(done.sub,)]
    batches.create_items(uc.ctx, done.sub)
    assert admin.counts()["library.mediaItems.batchCreate"] == 2 and uc.sent("create_items") == []
    assert submissions.get(uc.ctx.db, done.submission_id).status == SubmissionStatus.DONE


def test_a_users_last_upload_asks_for_its_batch_without_the_delay(uc, admin):
    """The delay lets uploads finishing alongside join the batch; after the user's last one, none can."""
    done, [first, second] = picked(uc, admin, photos=2)
    upload.process_item(uc.ctx, first)
    upload.process_item(uc.ctx, second)
    queue = table.spec("create_items").queue
    assert uc.sent("create_items") == [(done.sub,)] and not uc.stub.queues[f"{queue}.DQ"].queue
