"""The day's Library quota is shared over the day, not only over the moment: the last part of the budget is kept
for users who have used little of it today, and whatever waits for the quota says so at the step that waits
(security review 2, finding 4)."""

from __future__ import annotations

from tests.support.embedded import running
from tests.support.waiting import wait_until


def picked(app, admin, photos: int) -> tuple[dict, str]:
    user = admin.add_user(photos=photos, width=64, height=48)
    submission_id = app.submit(admin.mint_code(user["sub"]))
    app.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    return user, submission_id


def test_a_newcomers_pick_goes_ahead_of_a_user_who_spent_most_of_the_day(settings, admin):
    # 60 calls a day, the last 15 kept for users who have made at most 8 today.
    shared = {"library_daily_quota": 60, "library_newcomer_reserve": 0.25, "library_light_user_calls": 8}
    admin.quota(daily_limit=60)  # and Google's own: a probe finds the day spent
    with running(settings.model_copy(update=shared)) as app:
        _, heavy = picked(app, admin, photos=70)  # 70 uploads, batchCreates and the album: more than the day holds
        wait_until(lambda: app.status(heavy)["waiting"], timeout_s=60, what="the heavy pick waits")
        waiting = app.status(heavy)
        assert waiting["status"] == "processing" and waiting["waiting"]["reason"] == "google_quota"
        assert waiting["counts"]["failed"] == 0 and waiting["counts"]["waiting"] > 0
        _, newcomer = picked(app, admin, photos=2)
        done = app.wait(newcomer, "done", timeout_s=30)
        assert done["status"] == "done" and done["counts"]["done"] == 2 and done["waiting"] is None
        assert app.status(heavy)["counts"]["failed"] == 0  # still waiting, failing nothing


def test_a_pick_whose_album_waits_for_the_quota_says_so_before_it_has_items(settings, admin):
    admin.quota(daily_limit=12)  # Google's own limit: the probes are refused too
    with running(settings) as app:
        _, first = picked(app, admin, photos=16)
        wait_until(lambda: app.status(first)["waiting"], timeout_s=60, what="the day spent")
        _, later = picked(app, admin, photos=1)  # its album waits: no item exists yet
        wait_until(lambda: app.status(later)["waiting"], timeout_s=30, what="waiting shown")
        status = app.status(later)
    assert status["status"] == "awaiting_pick" and status["waiting"]["reason"] == "google_quota"
