"""FCM pushes: one per outcome to the device that posted the code; an unregistered token forgotten at once."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.support.google import redeem
from tests.support.waiting import wait_until as until
from workers.context import get_context
from workers.store import notifications, submissions
from workers.store.models import Notification
from workers.store.states import NotificationState

HEADERS = {"X-Requested-With": "tests"}
DEVICE = "fcm-registration-token:" + "d" * 60


def post(app, admin, user, **extra) -> str:
    body = {"code": admin.mint_code(user["sub"]), "push_token": DEVICE, **extra}
    return requests.post(f"{app.url}/v1/auth-codes", json=body, headers=HEADERS).json()["submission_id"]


def done(app, admin) -> str:
    """A submission with a push token that ends done; its id."""
    user = admin.add_user(photos=1, width=64, height=48)
    submission_id = post(app, admin, user)
    app.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    app.wait(submission_id, "done")
    return submission_id


def test_a_done_submission_pushes_once_to_its_device(app, admin, receiver):
    submission_id = done(app, admin)
    until(lambda: len(admin.push_messages()) == 1)
    time.sleep(0.5)  # no second push is on its way
    [message] = admin.push_messages()
    assert message["token"] == DEVICE and message["data"] == {"submission_id": submission_id, "status": "done"}
    assert message["notification"]["title"] and admin.counts()["oauth.token.jwt-bearer"] == 1


def test_a_failed_submission_pushes_its_outcome(app, admin, receiver):
    user = admin.add_user()
    code = admin.mint_code(user["sub"], granted=["openid", "email", "profile"])  # redeemed, then short of scopes
    body = {"code": code, "push_token": DEVICE}
    submission_id = requests.post(f"{app.url}/v1/auth-codes", json=body, headers=HEADERS).json()["submission_id"]
    until(lambda: len(admin.push_messages()) == 1)
    assert admin.push_messages()[0]["data"] == {"submission_id": submission_id, "status": "failed"}


def test_a_code_that_is_never_redeemed_pushes_nothing_to_the_token_posted_with_it(app, admin, receiver, emulator):
    """Anyone can post any device token with a junk code: darkroom pushes only for a user it knows."""
    user = admin.add_user()
    code = admin.mint_code(user["sub"])
    redeem(emulator.url, code)  # someone else's: code_rejected
    ctx = get_context()
    for junk in (code, "4/0Ab-not-a-code-at-all"):
        body = {"code": junk, "push_token": DEVICE}
        submission_id = requests.post(f"{app.url}/v1/auth-codes", json=body, headers=HEADERS).json()["submission_id"]
        assert app.wait(submission_id, "failed")["error"]["code"] == "code_rejected"
        assert submissions.get(ctx.db, submission_id).push_secret is None
    until(lambda: notifications.counts(ctx.db).get("webhook", {}).get("delivered") == 2, what="webhooks")
    assert admin.push_messages() == [] and "push" not in notifications.counts(ctx.db)


def test_an_unregistered_token_is_forgotten_after_one_attempt(app, admin, receiver):
    admin.unregister_push_token(DEVICE)  # the user uninstalled the app
    submission_id = done(app, admin)
    ctx = get_context()
    until(lambda: notifications.counts(ctx.db).get("push", {}).get("dropped") == 1)
    assert [r["status"] for r in admin.requests() if r["endpoint"] == "fcm.messages.send"] == [404]
    assert submissions.get(ctx.db, submission_id).push_secret is None


def test_a_429_or_503_from_fcm_is_tried_again_and_pushes_once(app, admin, receiver):
    admin.inject_fault("fcm.messages.send", status=503)
    admin.inject_fault("fcm.messages.send", status=429, retry_after_s=0)
    done(app, admin)
    until(lambda: len(admin.push_messages()) == 1)
    statuses = [r["status"] for r in admin.requests() if r["endpoint"] == "fcm.messages.send"]
    assert sorted(statuses) == [200, 429, 503]
    ctx = get_context()
    # FCM holds the message once it answered; the worker records the delivery just after: wait for that too.
    until(lambda: notifications.counts(ctx.db).get("push") == {NotificationState.DELIVERED: 1})


def test_the_push_token_is_sealed_in_the_database_and_never_logged(app, admin, receiver, told, caplog):
    submission_id = done(app, admin)
    until(lambda: len(admin.push_messages()) == 1)
    database = Path(told.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))  # with -wal and -shm
    assert DEVICE.encode() not in stored and DEVICE not in caplog.text
    row = submissions.get(get_context().db, submission_id)
    assert row is not None and row.push_secret is not None and row.push_secret.startswith("v1.")


def test_a_firebase_key_google_refuses_settles_the_push_as_dead_with_its_reason(told, admin, receiver):
    """google-auth's RefreshError at the JWT-bearer grant is translated: the row is settled, not sent for ever."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.support.embedded import running

    account = json.loads(told.fcm_service_account_file.read_text())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    told.fcm_service_account_file.write_text(json.dumps(account))
    with running(told) as app:
        done(app, admin)
        ctx = get_context()
        until(lambda: notifications.counts(ctx.db).get("push") == {NotificationState.DEAD: 1}, what="settled dead")
        with ctx.db.session() as s:
            [row] = s.query(Notification).filter_by(channel="push").all()
    assert "refused the service account's key: invalid_grant" in (row.last_error or "")
    assert admin.push_messages() == []
