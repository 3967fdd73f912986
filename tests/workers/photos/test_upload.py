"""Uploading one item: each step checks the ledger first, so a redelivery does only what is left."""

from __future__ import annotations

import time

import pytest

from tests.support.stub import picked
from workers.errors import BadRequest, GaveUp, UnusableImage
from workers.photos import upload
from workers.store import hotpath, items
from workers.store.states import ItemState


def test_an_item_is_downloaded_enhanced_and_uploaded_then_its_batch_asked_for(uc, admin):
    done, [item_id] = picked(uc, admin, photos=1)
    upload.process_item(uc.ctx, item_id)
    item = items.get(uc.ctx.db, item_id)
    assert item is not None and item.state == ItemState.UPLOADED and item.upload_secret is not None
    assert uc.sent("create_items") == [(done.sub,)]
    assert admin.counts()["library.uploads"] == 1


def test_a_second_delivery_that_uploaded_too_cannot_take_a_created_item_back(uc, admin):
    """Two deliveries of one photo at once (one retried after a database outage, the other sent again when the
    outage was over) both upload; the first is recorded, batch-created and done. The second's record must not
    put the item back to `uploaded`, or batchCreate makes it a second time: a duplicate in the user's album."""
    from workers.photos import batches

    done, [item_id] = picked(uc, admin, photos=1)
    first = items.get(uc.ctx.db, item_id)
    upload.process_item(uc.ctx, item_id)
    batches.create_items(uc.ctx, done.sub)
    assert items.get(uc.ctx.db, item_id).state == ItemState.DONE
    assert first is not None
    late = hotpath.record_upload(uc.ctx.db, uc.ctx.vault, first, "late-upload-token", 10, 10, release=1)
    assert late.uploaded == 0 and items.get(uc.ctx.db, item_id).state == ItemState.DONE


def test_a_redelivered_item_uploads_nothing_more(uc, admin):
    _, [item_id] = picked(uc, admin, photos=1)
    upload.process_item(uc.ctx, item_id)
    upload.process_item(uc.ctx, item_id)
    assert admin.counts()["library.uploads"] == 1 and admin.counts()["content.download"] == 1


def test_bytes_that_are_no_photo_are_an_unusable_image(uc, admin, emulator):
    user = admin.add_user(photos=0)
    emulator.google.add_media(user["sub"], "broken.jpg", "image/jpeg", b"not a jpeg at all", 1, 1)
    _, [item_id] = picked(uc, admin, user=user)
    with pytest.raises(UnusableImage):
        upload.process_item(uc.ctx, item_id)
    assert "library.uploads" not in admin.counts()


def test_an_expired_base_url_is_fetched_anew_from_the_picker_session(uc, admin):
    admin.set_lifetimes(base_url_s=0.5)
    _, [item_id] = picked(uc, admin, photos=1)
    time.sleep(0.6)  # the base URL the ledger holds has expired
    before = items.get(uc.ctx.db, item_id).base_url
    upload.process_item(uc.ctx, item_id)
    item = items.get(uc.ctx.db, item_id)
    assert item is not None and item.state == ItemState.UPLOADED and item.base_url != before
    assert [r["status"] for r in admin.requests() if r["endpoint"] == "content.download"] == [403, 200]


def test_an_item_delivered_too_often_is_given_up(uc, admin):
    _, [item_id] = picked(uc, admin, photos=1)
    for _ in range(uc.ctx.settings.max_deliveries):
        hotpath.begin_attempt(uc.ctx.db, item_id)  # each a delivery that crashed its worker
    with pytest.raises(GaveUp):
        upload.process_item(uc.ctx, item_id)


@pytest.mark.parametrize(
    "elsewhere",
    [
        "http://127.0.0.1:9/content/planted",
        "https://photos.evil.example/content/x",
        "http://lh3.googleusercontent.com/x",
        # the standard library reads Google's host here; urllib3, which sends the request, the one before the \
        "https://photos.evil.example\\@lh3.googleusercontent.com/x",
        "https://127.0.0.1:9\\@lh3.googleusercontent.com/x",
        "https://user@lh3.googleusercontent.com/x",
    ],
)
def test_the_users_token_goes_to_no_base_url_off_googles_media_hosts(uc, admin, elsewhere):
    """Security review row 6: refused before any connection (port 9 would refuse one: Unavailable)."""
    _, [item_id] = picked(uc, admin, photos=1)
    items.set_state(uc.ctx.db, item_id, ItemState.QUEUED, base_url=elsewhere)
    with pytest.raises(BadRequest, match="not on a Google media host"):
        upload.process_item(uc.ctx, item_id)


def test_a_download_over_the_byte_cap_is_refused_as_it_streams(uc, admin):
    from workers.context import Context

    _, [item_id] = picked(uc, admin, photos=1)
    small = Context(uc.ctx.settings.model_copy(update={"max_download_bytes": 1000}))
    with pytest.raises(UnusableImage, match="byte limit"):
        upload.process_item(small, item_id)


@pytest.mark.parametrize("retry_after", [999_999_999, 99_999_999_999_999, "soon", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_past_an_hour_or_unreadable_waits_an_hour_at_most(uc, admin, retry_after):
    """A 429's Retry-After is shared by every caller of the API: it has a ceiling, and junk is no error."""
    import datetime

    from workers.errors import QuotaWait

    _, [item_id] = picked(uc, admin, photos=1)
    admin.inject_fault("library.uploads", status=429, retry_after_s=retry_after)
    with pytest.raises(QuotaWait) as raised:
        upload.process_item(uc.ctx, item_id)
    assert not raised.value.daily and (raised.value.delay_s or 0.0) <= 3600
    [use] = [u for u in uc.ctx.quota.report() if u.api == "library"]
    hour = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=3601)
    assert use.slowed_until is not None and use.slowed_until <= hour
