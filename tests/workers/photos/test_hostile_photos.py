"""Hostile photos in the whole flow, embedded against the emulator: each fails as `unusable_image` on its own,
and nothing of another user's photos reaches the album (security review 2, findings 1, 2 and 9)."""

from __future__ import annotations

from emulator import photos
from tests.support import hostile
from workers.context import get_context
from workers.store.models import Item


def test_photos_that_decode_to_nothing_fail_alone_and_never_carry_another_users_pixels(darkroom, admin, emulator):
    first = admin.add_user(photos=4, width=320, height=240)
    submission_id = darkroom.submit(admin.mint_code(first["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=first["sub"])
    assert darkroom.wait(submission_id, "done")["counts"]["done"] == 4
    second = admin.add_user()
    hostile_photos = [hostile.jpeg_without_scan(320, 240) for _ in range(3)]
    hostile_photos += [hostile.heic_with_item_type(), photos.heic(64, 48)[:-200]]
    for n, data in enumerate(hostile_photos):
        emulator.google.add_media(second["sub"], f"B{n}.jpg", "image/jpeg", data, 320, 240)
    submission_id = darkroom.submit(admin.mint_code(second["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.pick(sub=second["sub"])
    status = darkroom.wait(submission_id, "done")
    assert status["counts"] == {"total": 5, "done": 0, "failed": 5, "skipped": 0, "waiting": 0}
    with get_context().db.session() as session:
        failed = session.query(Item).filter_by(submission_id=submission_id).all()
    assert {row.error_code for row in failed} == {"unusable_image"}
    uploaded = [i for album in admin.state()["albums"] for i in album["items"]]
    assert len(uploaded) == 4  # the first user's, and nothing more
    assert admin.counts()["library.uploads"] == 4
