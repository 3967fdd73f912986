"""Every event the app is told of reaches a receiver that verifies it with standardwebhooks, at least once,
with the same webhook-id on every retry; a receiver down for the whole window ends in one dead letter."""

from __future__ import annotations

import time

import requests

from tests.support.google import redeem
from tests.support.processes import cli, env_of
from tests.support.waiting import wait_until as until
from workers.context import Context, get_context
from workers.operations import sweeper
from workers.store import notifications
from workers.store.states import NotificationState

HEADERS = {"X-Requested-With": "tests"}


def picked_and_done(app, admin, photos: int = 1, **post) -> tuple[dict, str]:
    user = admin.add_user(photos=photos, width=64, height=48)
    body = {"code": admin.mint_code(user["sub"]), **post}
    submission_id = requests.post(f"{app.url}/v1/auth-codes", json=body, headers=HEADERS).json()["submission_id"]
    app.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    assert app.wait(submission_id, "done")["status"] == "done"
    return user, submission_id


def test_awaiting_pick_and_done_reach_the_receiver_verified_with_the_status_document(app, admin, receiver):
    user, submission_id = picked_and_done(app, admin, photos=2)
    until(lambda: receiver.types() == ["submission.awaiting_pick", "submission.done"], what="told")
    done = next(e for e in receiver.events() if e["type"] == "submission.done")
    assert done["data"]["submission_id"] == submission_id and done["data"]["sub"] == user["sub"]
    assert done["data"]["status"] == "done" and done["data"]["counts"] == {
        "total": 2,
        "done": 2,
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    assert all(d["verified"] for d in receiver.seen)  # the receiver's secret is one of the two that sign


def test_a_failed_submission_is_told_with_its_error(app, admin, receiver, emulator):
    user = admin.add_user()
    code = admin.mint_code(user["sub"])
    assert redeem(emulator.url, code).status_code == 200  # redeemed elsewhere: darkroom's exchange is refused
    submission_id = requests.post(f"{app.url}/v1/auth-codes", json={"code": code}, headers=HEADERS).json()[
        "submission_id"
    ]
    until(lambda: receiver.types() == ["submission.failed"], what="told")
    [failed] = receiver.events()
    assert failed["data"]["submission_id"] == submission_id and failed["data"]["error"]["code"] == "code_rejected"


def test_revoking_a_user_tells_grant_revoked_then_user_deleted(app, admin, receiver, told):
    user, _ = picked_and_done(app, admin)
    assert cli("revoke", "--user", user["sub"], env=env_of(told)).returncode == 0
    # Without Redis the command cannot reach the embedded server's broker: its events wait for the sweeper,
    # which the test runs now instead of in five minutes.
    sweeper.sweep(Context(told.model_copy(update={"stale_after_s": 0.0})))
    until(lambda: {"grant.revoked", "user.deleted"} <= set(receiver.types()), what="told")
    revoked = next(e for e in receiver.events() if e["type"] == "grant.revoked")
    assert revoked["data"] == {"sub": user["sub"]}


def test_a_receiver_that_answers_500_then_204_gets_the_same_webhook_id_twice_and_nothing_more(app, admin, receiver):
    receiver.answers = [500]
    user = admin.add_user()
    requests.post(f"{app.url}/v1/auth-codes", json={"code": admin.mint_code(user["sub"])}, headers=HEADERS)
    until(lambda: len(receiver.seen) >= 2, what="retried")
    time.sleep(1.0)  # long enough for a third delivery, were one coming
    assert len(receiver.seen) == 2 and receiver.seen[0]["id"] == receiver.seen[1]["id"]
    assert receiver.seen[0]["raw"] == receiver.seen[1]["raw"] and receiver.types() == ["submission.awaiting_pick"]


def test_bodies_hold_ids_states_and_counts_never_a_code_token_or_base_url(app, admin, receiver):
    picked_and_done(app, admin, photos=2, push_token="fcm-device-token-" + "x" * 40)
    until(lambda: len(receiver.events()) == 2, what="told")
    issued = admin.tokens()
    secrets_ = issued["codes"] + issued["access_tokens"] + issued["refresh_tokens"] + ["fcm-device-token-"]
    text = b"".join(d["raw"] for d in receiver.seen).decode()
    assert all(s not in text for s in secrets_) and "/content/" not in text


def test_a_receiver_down_for_the_whole_window_ends_in_one_dead_letter_that_replay_delivers(
    admin, receiver, told, redis_url
):
    from tests.support.embedded import running

    receiver.down = True
    settings = told.model_copy(update={"redis_url": redis_url, "notify_retry_window_s": 1.5})
    with running(settings) as app:
        user = admin.add_user()
        requests.post(f"{app.url}/v1/auth-codes", json={"code": admin.mint_code(user["sub"])}, headers=HEADERS)
        ctx = get_context()
        until(lambda: notifications.counts(ctx.db).get("webhook", {}).get("dead") == 1, what="dead")
        listed = cli("dead", "list", "--queue", "notify", env=env_of(settings))
        assert "1 dead letters" in listed.stdout and "deliver_notification" in listed.stdout, listed.stdout
        tries = len(receiver.seen)
        assert tries >= 3 and len({d["id"] for d in receiver.seen}) == 1  # retried, one event, one id
        receiver.down = False
        replayed = cli("dead", "replay", "--queue", "notify", env=env_of(settings))
        assert replayed.returncode == 0 and "replayed 1" in replayed.stdout
        until(lambda: notifications.counts(ctx.db)["webhook"].get("delivered") == 1, what="delivered")
    assert receiver.types() == ["submission.awaiting_pick"] and len(receiver.seen) == tries + 1
    row = notifications.get(ctx.db, receiver.seen[0]["id"])
    assert row is not None and row.state == NotificationState.DELIVERED


def test_a_row_keeps_facts_and_goes_out_as_the_status_document_and_an_earlier_releases_row_as_it_was():
    """The outbox row holds the submission's facts; the body is its status document, the same on every attempt.
    A row written by the release before (which held the document itself) goes out unchanged."""
    import json

    from workers.notify import webhooks
    from workers.store.models import Notification

    facts = {
        "submission_id": "s1", "sub": "42", "status": "done", "source": "picker", "picker_uri": "https://p/x",
        "items": {"done": 2, "failed": 1}, "error_code": None, "error_detail": None, "missing_scopes": None,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:01:00Z",
    }  # fmt: skip
    row = Notification(id="msg_1", payload=json.dumps({"type": "submission.done", "timestamp": "t", "data": facts}))
    sent = json.loads(webhooks.body_of(row))
    assert sent["data"]["counts"] == {"total": 3, "done": 2, "failed": 1, "skipped": 0, "waiting": 0}
    assert sent["data"]["picker_uri"] is None and sent["data"]["sub"] == "42" and "items" not in sent["data"]
    assert webhooks.body_of(row) == webhooks.body_of(row)
    earlier = Notification(id="msg_2", payload=json.dumps({"type": "grant.revoked", "data": {"sub": "42"}}))
    assert webhooks.body_of(earlier) == earlier.payload


def test_the_album_link_is_in_the_status_and_the_done_webhook_once_the_album_exists(app, admin, receiver):
    """Google answers the album's productUrl when darkroom creates it: the app opens it when the photos are in."""
    user, submission_id = picked_and_done(app, admin, photos=1)
    [album] = admin.state()["albums"]
    expected = {"id": album["id"], "url": f"https://photos.google.com/lr/album/{album['id']}"}
    assert app.status(submission_id)["album"] == expected
    until(lambda: "submission.done" in receiver.types(), what="told")
    events = {e["type"]: e for e in receiver.events()}
    assert events["submission.done"]["data"]["album"] == expected
    assert events["submission.awaiting_pick"]["data"]["album"] is None  # no album before the pick
    again = app.submit(admin.mint_code(user["sub"]))
    assert app.wait(again, "awaiting_pick")["album"] == expected  # the user's album, from the start
