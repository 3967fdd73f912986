"""Cross-Account Protection as Google sends it (docs/google.md#risc), over HTTP to embedded darkroom."""

from __future__ import annotations

import datetime

import pytest
import requests
from starlette.testclient import TestClient

from emulator.world import DEMO_CLIENT_ID
from ingest.app import create_app
from settings import Settings
from tests.support.processes import free_port
from tests.support.stub import harness
from workers.context import get_context
from workers.operations import sweeper
from workers.queue import broker
from workers.store import grants, security_events
from workers.store.models import SecurityEvent
from workers.store.states import GrantState

IOS_CLIENT = "1234-ios.apps.googleusercontent.com"
ANDROID_CLIENT = "1234-android.apps.googleusercontent.com"
SET = {"Content-Type": "application/secevent+jwt"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"risc_audiences": f"{DEMO_CLIENT_ID},{IOS_CLIENT},{ANDROID_CLIENT}"})


def signed_in(darkroom, admin) -> dict:
    user = admin.add_user()
    assert darkroom.wait(darkroom.submit(admin.mint_code(user["sub"])), "awaiting_pick")["status"] == "awaiting_pick"
    return user


def deliver(darkroom, token: str) -> requests.Response:
    answer = requests.post(f"{darkroom.url}/v1/risc", data=token, headers=SET)
    darkroom.app.join()
    return answer


def state_of(user: dict) -> str:
    return grants.get(get_context().db, user["sub"]).state


@pytest.mark.parametrize("audience", [IOS_CLIENT, ANDROID_CLIENT])
def test_an_event_for_the_apps_ios_or_android_client_is_taken(darkroom, admin, audience):
    user = signed_in(darkroom, admin)
    assert (
        deliver(darkroom, admin.security_event(user["sub"], "sessions-revoked", audience=audience)).status_code == 202
    )
    assert state_of(user) == GrantState.REVOKED


def test_an_iat_a_little_ahead_of_our_clock_is_taken(darkroom, admin):
    user = signed_in(darkroom, admin)
    token = admin.security_event(user["sub"], "account-disabled", iat_offset_s=5)
    assert deliver(darkroom, token).status_code == 202 and state_of(user) == GrantState.REVOKED


@pytest.mark.parametrize("alg", ["prefix", "hash_base64_sha512_sha512"])
def test_token_revoked_finds_the_grant_by_its_refresh_tokens_identifier(darkroom, admin, alg):
    user, other = signed_in(darkroom, admin), signed_in(darkroom, admin)
    assert deliver(darkroom, admin.security_event(user["sub"], "token-revoked", token_alg=alg)).status_code == 202
    assert state_of(user) == GrantState.REVOKED and state_of(other) == GrantState.ACTIVE
    assert grants.refresh_token_of(get_context().db, get_context().vault, user["sub"]) is None


def test_every_event_in_one_token_is_applied(darkroom, admin):
    user = signed_in(darkroom, admin)
    token = admin.security_event(user["sub"], ["account-credential-change-required", "tokens-revoked"], jti="two")
    assert deliver(darkroom, token).status_code == 202
    assert state_of(user) == GrantState.REVOKED  # the second event counts too
    recorded = security_events.security_event(get_context().db, "two")
    assert recorded is not None and recorded.event_type.split() == [
        "account-credential-change-required",
        "tokens-revoked",
    ]


@pytest.mark.parametrize("event", ["account-enabled", "account-credential-change-required", "verification"])
def test_events_that_ask_for_no_action_are_recorded_and_leave_the_grant(darkroom, admin, event):
    user = signed_in(darkroom, admin)
    assert deliver(darkroom, admin.security_event(user["sub"], event, jti=f"j-{event}")).status_code == 202
    assert state_of(user) == GrantState.ACTIVE
    assert security_events.security_event(get_context().db, f"j-{event}").applied_at is not None


@pytest.mark.parametrize(
    "subject",
    [
        {"subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": {"nested": "object"}},
        {"subject_type": "iss-sub", "iss": "https://accounts.google.com/"},
        {"subject_type": "oauth_token", "token_type": "refresh_token", "token_identifier_alg": "md5", "token": "x"},
        "not an object",
    ],
)
def test_a_malformed_subject_is_400_with_rfc_8935s_err(darkroom, admin, subject):
    user = signed_in(darkroom, admin)
    answer = deliver(darkroom, admin.security_event(user["sub"], "sessions-revoked", subject=subject))
    assert answer.status_code == 400 and answer.json()["err"] == "invalid_request"
    assert state_of(user) == GrantState.ACTIVE


def test_an_event_whose_enqueue_failed_is_sent_on_googles_redelivery_and_by_the_sweeper(settings, admin):
    """Security review row 1: the event row is an outbox. Redis down after the row is written: a 503, then
    Google's redelivery enqueues it (not a 202 that drops it), and the sweeper finds it too."""
    user = admin.add_user()
    token = admin.security_event(user["sub"], "sessions-revoked", jti="lost-once")
    with harness(settings) as h:
        broker.setup(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
        web = TestClient(create_app(context=h.ctx))
        assert web.post("/v1/risc", content=token, headers=SET).status_code == 503  # recorded, not enqueued
        h.stub = broker.setup(h.ctx.settings)  # type: ignore[assignment] # Redis is back: the stub again
        assert web.post("/v1/risc", content=token, headers=SET).status_code == 202
        assert h.take("apply_security_event") == [("lost-once",)]
        with h.ctx.db.session() as s:
            s.get(SecurityEvent, "lost-once").received_at = datetime.datetime(2000, 1, 1)
        assert sweeper.sweep(h.ctx)["apply_security_event"] == 1
        assert h.sent("apply_security_event") == [("lost-once",)]
