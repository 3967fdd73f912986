"""Receivers that misbehave hold only notifications, for at most the delivery deadline, and are never followed
elsewhere (security review 2, findings 3, 5, 6 and 13)."""

from __future__ import annotations

import time

import pytest
import requests
from pydantic import SecretStr

from tests.support.embedded import HEADERS, running
from tests.support.hostile_receiver import hostile
from tests.support.processes import env_of
from tests.support.receiver import SECRET, receiving
from tests.support.waiting import wait_until
from tests.workers.cli.test_cli import run
from workers.context import get_context
from workers.store import notifications
from workers.store.models import Notification

QUICK = {"notify_min_backoff_s": 0.2, "notify_max_backoff_s": 0.5, "notify_retry_window_s": 60.0}


def told(settings, url: str, **more):
    return settings.model_copy(update={"webhook_url": url, "webhook_secrets": SecretStr(SECRET), **QUICK, **more})


def rows() -> list[Notification]:
    with get_context().db.session() as s:
        return list(s.query(Notification))


def test_a_receiver_that_answers_a_byte_at_a_time_delays_nobodys_picker_link(settings, admin):
    with hostile("drip") as receiver, running(told(settings, receiver.url, webhook_timeout_s=1.5)) as app:
        users = [admin.add_user() for _ in range(8)]
        ids = []
        for user in users:
            answer = requests.post(
                f"{app.url}/v1/auth-codes", json={"code": admin.mint_code(user["sub"])}, headers=HEADERS
            )
            ids.append(answer.json()["submission_id"])
        started = time.monotonic()
        wait_until(lambda: all(app.status(i)["picker_uri"] for i in ids), timeout_s=15, what="every picker link")
        linked_s = time.monotonic() - started
        wait_until(lambda: receiver.connections >= 8 and len(receiver.held_s) >= 8, timeout_s=30, what="8 tries")
    assert linked_s < 10
    # each attempt cut at its deadline (the receiver notices within two of its half-second drips), not at the
    # 5-minute time limit
    assert max(receiver.held_s) < 1.5 + 2.0
    assert any("no answer within 1.5 s" in (row.last_error or "") for row in rows())


def test_a_huge_answer_is_not_read(settings, admin):
    with hostile("huge") as receiver, running(told(settings, receiver.url)) as app:
        app.submit(admin.mint_code(admin.add_user()["sub"]))
        ctx = get_context()
        wait_until(lambda: notifications.counts(ctx.db).get("webhook", {}).get("delivered") == 1, what="delivered")
        wait_until(lambda: receiver.sent, what="the receiver hung up on")
    assert receiver.sent[0] < 64 << 20  # of 256 MB offered: darkroom read the status and hung up


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed_and_the_event_goes_nowhere_else(settings, admin, status):
    with (
        receiving() as elsewhere,
        hostile("redirect", location=elsewhere.url, status=status) as receiver,
        running(told(settings, receiver.url)) as app,
    ):
        app.submit(admin.mint_code(admin.add_user()["sub"]))
        wait_until(lambda: receiver.connections >= 2, what="tried twice")
        [row] = rows()
    assert elsewhere.seen == [] and row.state == "pending" and "redirects are not followed" in (row.last_error or "")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "secrets", "why"),
    [
        ("http://backend.example/hooks", SECRET, "must be https://"),
        ("https://backend.example/hooks", "whsec_AQ==", "holds 1 bytes"),
        ("https://backend.example/hooks", "whsec_not base64!", "not whsec_ and base64"),
    ],
)
def test_a_webhook_setting_that_cannot_be_used_stops_darkroom_at_start(settings, tmp_path, url, secrets, why):
    env = env_of(settings, DARKROOM_WEBHOOK_URL=url, DARKROOM_WEBHOOK_SECRETS=secrets)
    result = run("status", env=env, cwd=tmp_path)
    assert result.returncode == 1 and why in result.stderr, result.stderr[-400:]
