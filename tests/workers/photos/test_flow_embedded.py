"""The whole flow, embedded, against the emulator: each outcome the app can see, and the effects at Google."""

from __future__ import annotations

import datetime
import io
import re
import time

import pytest
from PIL import Image, ImageOps

from emulator.world import APPCREATED, APPENDONLY, PICKER_SCOPE
from workers.context import get_context
from workers.queue import broker, messages
from workers.store import grants
from workers.store.models import Item

NAMED = re.compile(r"(.+)-darkroom-[a-z2-7]{10}\.jpg")


def picked_and_done(darkroom, admin, photos: int = 3) -> tuple[dict, str, dict]:
    user = admin.add_user(photos=photos, width=320, height=240)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    status = darkroom.wait(submission_id, "awaiting_pick")
    assert status["status"] == "awaiting_pick" and status["picker_uri"].startswith(admin.url)
    admin.pick(sub=user["sub"])
    return user, submission_id, darkroom.wait(submission_id, "done")


def test_happy_path_puts_one_output_per_photo_in_one_album(darkroom, admin):
    user, _submission_id, status = picked_and_done(darkroom, admin, photos=3)
    assert status["status"] == "done" and status["counts"] == {
        "total": 3,
        "done": 3,
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    [album] = admin.state()["albums"]
    assert album["title"] == "Enhanced by darkroom" and len(album["items"]) == 3
    # Descriptions belong to the user (docs/google.md#photos-library): darkroom's marker is in the file name it chose.
    assert all(i["description"] == "" and NAMED.fullmatch(i["filename"]) for i in album["items"])
    counts = admin.counts()
    assert counts["oauth.token.authorization_code"] == 1 and counts["library.albums.create"] == 1
    assert counts["library.uploads"] == 3 and counts["content.download"] == 3
    assert counts["picker.sessions.delete"] == 1  # Google asks for sessions to be deleted when done
    grant = grants.get(get_context().db, user["sub"])
    assert grant is not None and grant.state == "active" and grant.email == user["email"]


def test_second_submission_reuses_the_album(darkroom, admin):
    user, _, _ = picked_and_done(darkroom, admin, photos=1)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    darkroom.wait(submission_id, "done")
    assert admin.counts()["library.albums.create"] == 1 and len(admin.state()["albums"]) == 1


def test_redelivered_item_message_uploads_nothing_more(darkroom, admin):
    user, submission_id, _ = picked_and_done(darkroom, admin, photos=2)
    ctx = get_context()
    with ctx.db.session() as s:
        ids = [row.id for row in s.query(Item).filter_by(submission_id=submission_id)]
    before = admin.counts()
    assert before["library.uploads"] == 2 and before["library.mediaItems.batchCreate"] == 1  # one batch for both
    for item_id in ids:
        messages.process_item(item_id)
        messages.create_items(user["sub"])
    broker.current().join("photos")
    time.sleep(0.2)
    after = admin.counts()
    assert after["library.uploads"] == 2 and after["library.mediaItems.batchCreate"] == 1
    assert len(admin.state()["albums"][0]["items"]) == 2


def test_insufficient_scope_fails_with_the_missing_scopes_and_touches_nothing(darkroom, admin):
    user = admin.add_user(photos=1)
    code = admin.mint_code(user["sub"], granted=["openid", "email", "profile", APPENDONLY, APPCREATED])
    status = darkroom.wait(darkroom.submit(code), "done")
    assert status["status"] == "failed" and status["error"]["code"] == "insufficient_scope"
    assert status["error"]["missing_scopes"] == [PICKER_SCOPE]
    assert grants.get(get_context().db, user["sub"]).state == "insufficient_scope"
    assert "picker.sessions.create" not in admin.counts()


def test_already_redeemed_code_is_code_rejected(darkroom, admin, emulator):
    from tests.support.google import redeem

    user = admin.add_user()
    code = admin.mint_code(user["sub"])
    assert redeem(emulator.url, code).status_code == 200
    status = darkroom.wait(darkroom.submit(code), "done")
    assert status["status"] == "failed" and status["error"]["code"] == "code_rejected"
    assert admin.counts()["oauth.token.authorization_code"] == 2  # no blind retry of a dead code


def test_no_refresh_token_and_none_stored_asks_for_consent(darkroom, admin):
    user = admin.add_user()
    admin.mint_code(user["sub"])  # first consent happened elsewhere: this code will not carry a refresh token
    status = darkroom.wait(darkroom.submit(admin.mint_code(user["sub"])), "done")
    assert status["status"] == "failed" and status["error"]["code"] == "grant_revoked"


def test_rejected_access_token_is_refreshed_once_and_work_goes_on(darkroom, admin):
    user = admin.add_user(photos=2, width=320, height=240)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.expire_access_tokens(user["sub"])  # Google drops it early: the next call gets 401
    admin.pick(sub=user["sub"])
    assert darkroom.wait(submission_id, "done")["status"] == "done"
    assert admin.counts()["oauth.token.refresh_token"] == 1


def test_revoked_grant_stops_the_users_work(darkroom, admin):
    user = admin.add_user(photos=2, width=320, height=240)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.revoke(user["sub"])  # the user removed darkroom's access in their Google account
    admin.pick(sub=user["sub"])
    status = darkroom.wait(submission_id, "done")
    assert status["status"] == "failed" and status["error"]["code"] == "grant_revoked"
    assert grants.get(get_context().db, user["sub"]).state == "revoked"
    assert grants.refresh_token_of(get_context().db, get_context().vault, user["sub"]) is None


def test_revoking_while_items_are_in_flight_stops_each_within_one_attempt(darkroom, admin):
    user = admin.add_user(photos=6, width=320, height=240)
    admin.inject_fault("content.download", delay_s=1.0, count=6)  # the downloads are slow...
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    darkroom.wait(submission_id, "processing")
    admin.revoke(user["sub"])  # ...and the user revokes darkroom meanwhile
    status = darkroom.wait(submission_id, "done")
    assert status["status"] == "failed" and status["error"]["code"] == "grant_revoked"
    with get_context().db.session() as s:
        rows = s.query(Item).filter_by(submission_id=submission_id).all()
    assert len(rows) == 6
    assert all(r.state == "failed" and r.attempts <= 1 and r.error_code == "grant_revoked" for r in rows)
    assert "library.uploads" not in admin.counts()


def test_transient_upload_failure_is_retried(darkroom, admin):
    admin.inject_fault("library.uploads", status=503, count=1)
    _, _, status = picked_and_done(darkroom, admin, photos=1)
    assert status["status"] == "done"
    assert [r["status"] for r in admin.requests() if r["endpoint"] == "library.uploads"] == [503, 200]


def test_unusable_image_fails_the_item_not_the_batch(darkroom, admin, emulator):
    user = admin.add_user(photos=1, width=320, height=240)
    emulator.google.add_media(user["sub"], "broken.jpg", "image/jpeg", b"not a jpeg at all", 1, 1)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    status = darkroom.wait(submission_id, "done")
    assert status["status"] == "done" and status["counts"] == {
        "total": 2,
        "done": 1,
        "failed": 1,
        "skipped": 0,
        "waiting": 0,
    }
    assert admin.counts()["library.uploads"] == 1


def test_every_orientation_arrives_as_the_camera_stored_it_and_shows_upright(darkroom, admin):
    """The emulator's photos cycle through the eight EXIF orientations; each album item keeps its tag."""
    _user, _, _ = picked_and_done(darkroom, admin, photos=8)
    [album] = admin.state()["albums"]
    tags = set()
    for item in album["items"]:
        with Image.open(io.BytesIO(admin.media_bytes(item["id"]))) as image:
            tags.add(image.getexif().get(0x0112, 1))
            assert ImageOps.exif_transpose(image).size == (320, 240)  # shown as the landscape shot it was
    assert tags == set(range(1, 9))


def test_heic_photos_from_an_iphone_go_through(darkroom, admin):
    user = admin.add_user(photos=2, width=320, height=240, kind="heic")
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    assert darkroom.wait(submission_id, "done")["counts"] == {
        "total": 2,
        "done": 2,
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    [album] = admin.state()["albums"]
    assert sorted(NAMED.fullmatch(i["filename"]).group(1) for i in album["items"]) == ["IMG_0000", "IMG_0001"]
    assert all(i["mime_type"] == "image/jpeg" for i in album["items"])


def test_the_sweeper_runs_by_itself_and_resends_lost_work(emulator, admin, tmp_path):
    """A message lost by the broker (here: never sent) is found in the database and sent again."""
    from tests.support.embedded import running, settings_for
    from workers.store import submissions as subs

    settings = settings_for(emulator.url, f"sqlite:///{tmp_path / 'sweep.db'}", sweep_interval_s=0.5, stale_after_s=1.0)
    with running(settings):
        ctx = get_context()
        user = admin.add_user(photos=0)
        lost, _ = subs.record(ctx.db, ctx.vault, admin.mint_code(user["sub"]), "picker")  # recorded, never enqueued
        deadline = time.monotonic() + 20
        while subs.get(ctx.db, lost).status != "awaiting_pick" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert subs.get(ctx.db, lost).status == "awaiting_pick"


@pytest.mark.slow
def test_a_photo_that_keeps_killing_its_worker_is_given_up(darkroom, admin):
    """Redeliveries after a crash do not count as dramatiq retries; darkroom counts deliveries itself."""
    from sqlalchemy import update

    from workers.operations import sweeper

    user = admin.add_user(photos=2, width=160, height=120)
    admin.inject_fault("content.download", delay_s=8, count=1)  # one item hangs: as good as a dead worker
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    ctx = get_context()
    deadline = time.monotonic() + 20
    while darkroom.status(submission_id)["counts"].get("uploaded", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    with ctx.db.session() as s:  # the hanging one has been delivered max_deliveries times, long ago
        stuck = update(Item).where(Item.state.in_(("queued", "downloaded")))
        s.execute(stuck.values(attempts=5, updated_at=datetime.datetime(2000, 1, 1)))
    assert sweeper.sweep(ctx)["gave_up"] == 1
    status = darkroom.wait(submission_id, "done")
    assert status["counts"] == {"total": 2, "done": 1, "failed": 1, "skipped": 0, "waiting": 0}
    with ctx.db.session() as s:
        failed = s.query(Item).filter_by(state="failed").one()
    assert failed.error_code == "gave_up" and "deliveries" in (failed.error_detail or "")


def test_batch_create_takes_up_to_49_items_per_call(darkroom, admin):
    user = admin.add_user(photos=60, width=64, height=48)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    assert darkroom.wait(submission_id, "done", timeout_s=90)["counts"] == {
        "total": 60,
        "done": 60,
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    sizes = [r["status"] for r in admin.requests() if r["endpoint"] == "library.mediaItems.batchCreate"]
    assert len(sizes) == 2  # 49 + 11: waiting for full batches, then the rest once nothing more is coming
