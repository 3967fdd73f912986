"""What users really pick: names in any Unicode (and worse), and videos beside the photos (docs/google.md, its
Photos Library and Picker sections)."""

from __future__ import annotations

from tests.support.stub import picked
from workers.intake import queries
from workers.photos import batches, upload
from workers.photos.names import MAX_NAME, marker_of
from workers.store import items
from workers.store.models import Item
from workers.store.states import ItemState, SubmissionStatus

NAMES = ["写真.jpg", "🌅.jpg", "bad\r\nname.jpg", "\u202egpj.exe", "x" * 300 + ".jpg"]


def test_any_name_a_user_gave_a_photo_uploads_and_reaches_the_album(uc, admin):
    user = admin.add_user(photos=len(NAMES), width=64, height=48, names=NAMES)
    done, item_ids = picked(uc, admin, user=user)
    for item_id in item_ids:
        upload.process_item(uc.ctx, item_id)
    batches.create_items(uc.ctx, done.sub)
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.DONE}
    names = sorted(i["filename"] for i in admin.state()["albums"][0]["items"])
    assert all(len(n) <= MAX_NAME and n.isprintable() and marker_of(n) for n in names)
    assert any(n.startswith("写真-darkroom-") for n in names) and any(n.startswith("🌅-darkroom-") for n in names)
    assert any(n.startswith("badname-darkroom-") for n in names) and any(n.startswith("xxx") for n in names)
    assert not any("\u202e" in n for n in names)


def test_a_picked_video_is_skipped_never_fetched_and_the_submission_still_ends_done(uc, admin):
    user = admin.add_user(photos=1, width=64, height=48, videos=1)
    done, item_ids = picked(uc, admin, user=user)
    assert len(item_ids) == 1  # only the photo is sent on
    upload.process_item(uc.ctx, item_ids[0])
    batches.create_items(uc.ctx, done.sub)
    view = queries.view(uc.ctx.db, done.submission_id)
    assert view is not None and view["status"] == SubmissionStatus.DONE
    assert view["counts"] == {"total": 2, "done": 1, "failed": 0, "skipped": 1, "waiting": 0}
    with uc.ctx.db.session() as s:
        skipped = s.query(Item).filter_by(state=ItemState.SKIPPED).one()
    assert skipped.error_code == "not_a_photo" and skipped.attempts == 0
    assert admin.counts()["content.download"] == 1 and admin.counts()["library.uploads"] == 1
