"""The exchange use case, one test per outcome, against the emulator on a StubBroker."""

from __future__ import annotations

import threading

import pytest
import requests
from pydantic import SecretStr

from emulator.world import APPCREATED, APPENDONLY, PICKER_SCOPE
from tests.support.google import redeem
from tests.support.stub import exchanged, posted
from workers.context import Context
from workers.errors import CodeRejected, GrantRevoked, Misconfigured, RateLimited, ScopeMissing, Unavailable
from workers.grants import exchange
from workers.store import grants, submissions
from workers.store.states import GrantState, SubmissionStatus


def test_a_code_becomes_an_active_grant_and_the_picker_is_next(uc, admin):
    done = exchanged(uc, admin)
    grant = grants.get(uc.ctx.db, done.sub)
    assert grant is not None and grant.state == GrantState.ACTIVE and grant.email == done.user["email"]
    assert uc.sent("open_picker") == [(done.submission_id,)]
    row = submissions.get(uc.ctx.db, done.submission_id)
    assert row is not None and row.code_secret is None and row.sub == done.sub


def test_an_inbox_code_scans_the_inbox_next(uc, admin):
    done = exchanged(uc, admin, source="inbox")
    assert uc.sent("scan_inbox") == [(done.submission_id,)] and uc.sent("open_picker") == []


def test_a_redelivered_exchange_redeems_nothing(uc, admin):
    done = exchanged(uc, admin)
    exchange.exchange_code(uc.ctx, done.submission_id)
    assert admin.counts()["oauth.token.authorization_code"] == 1 and len(uc.sent("open_picker")) == 1


def test_two_copies_of_an_exchange_at_once_redeem_the_code_once(uc, admin):
    """After an outage everything unfinished is sent again (workers.queue.middleware.Watch): a copy that
    arrives while the first is at Google's token endpoint must not redeem the single-use code a second time
    (Google would answer invalid_grant, and the submission would fail though its exchange went through)."""
    done = posted(uc, admin)
    admin.inject_fault("oauth.token.authorization_code", delay_s=1.0, count=1)
    errors: list[BaseException] = []

    def copy() -> None:
        try:
            exchange.exchange_code(uc.ctx, done.submission_id)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=copy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert admin.counts()["oauth.token.authorization_code"] == 1 and len(uc.sent("open_picker")) == 1


def test_a_redeemed_code_is_rejected_and_forgotten(uc, admin, emulator):
    done = posted(uc, admin)
    code = submissions.code_of(uc.ctx.db, uc.ctx.vault, done.submission_id)
    assert code is not None and redeem(emulator.url, code).status_code == 200
    with pytest.raises(CodeRejected):
        exchange.exchange_code(uc.ctx, done.submission_id)
    assert submissions.code_of(uc.ctx.db, uc.ctx.vault, done.submission_id) is None


def test_fewer_scopes_than_the_source_needs_is_scope_missing(uc, admin):
    done = posted(uc, admin, granted=["openid", "email", "profile", APPENDONLY, APPCREATED])
    with pytest.raises(ScopeMissing) as raised:
        exchange.exchange_code(uc.ctx, done.submission_id)
    assert raised.value.missing == [PICKER_SCOPE]
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.INSUFFICIENT_SCOPE
    assert uc.sent("open_picker") == []


def test_no_refresh_token_and_none_stored_is_grant_revoked(uc, admin):
    user = admin.add_user()
    admin.mint_code(user["sub"])  # consent happened before: the next code carries no refresh token
    submission_id, _ = submissions.record(uc.ctx.db, uc.ctx.vault, admin.mint_code(user["sub"]), "picker")
    with pytest.raises(GrantRevoked):
        exchange.exchange_code(uc.ctx, submission_id)
    assert grants.get(uc.ctx.db, user["sub"]).state == GrantState.REVOKED


def test_a_client_secret_google_refuses_is_misconfigured(uc, admin, settings):
    done = posted(uc, admin)
    wrong = uc.ctx.settings.model_copy(update={"google_client_secret": SecretStr("not-the-secret")})
    ctx = Context(wrong)
    with pytest.raises(Misconfigured):
        exchange.exchange_code(ctx, done.submission_id)


def test_a_token_endpoint_outage_keeps_the_code_for_the_retry(uc, admin):
    done = posted(uc, admin)
    admin.inject_fault("oauth.token.authorization_code", status=503)
    with pytest.raises(Unavailable):
        exchange.exchange_code(uc.ctx, done.submission_id)
    row = submissions.get(uc.ctx.db, done.submission_id)
    assert row is not None and row.status == SubmissionStatus.EXCHANGING and row.code_secret is not None
    exchange.exchange_code(uc.ctx, done.submission_id)  # the retry
    assert uc.sent("open_picker") == [(done.submission_id,)]


def test_a_429_from_the_token_endpoint_is_rate_limited_with_googles_delay(uc, admin):
    done = posted(uc, admin)
    admin.inject_fault("oauth.token.authorization_code", status=429, retry_after_s=42)
    with pytest.raises(RateLimited) as raised:
        exchange.exchange_code(uc.ctx, done.submission_id)
    assert raised.value.delay_s == 42


def test_a_code_from_a_web_sign_in_is_redeemed_with_postmessage(darkroom, admin):
    """Google Identity Services' code model (popup) binds its codes to redirect_uri=postmessage."""
    user = admin.add_user()
    code = admin.mint_code(user["sub"], redirect_uri="postmessage")
    body = {"code": code, "platform": "web"}
    answer = requests.post(f"{darkroom.url}/v1/auth-codes", json=body, headers={"X-Requested-With": "web"})
    assert answer.status_code == 202
    assert darkroom.wait(answer.json()["submission_id"], "awaiting_pick")["status"] == "awaiting_pick"
    [redeemed] = [r for r in admin.requests() if r["endpoint"] == "oauth.token.authorization_code"]
    assert redeemed["status"] == 200


def test_an_ios_code_keeps_the_empty_redirect_uri(darkroom, admin):
    user = admin.add_user()
    status = darkroom.wait(darkroom.submit(admin.mint_code(user["sub"])), "awaiting_pick")
    assert status["status"] == "awaiting_pick"


def test_a_web_code_posted_as_an_ios_one_is_the_codes_fault_not_the_configurations(darkroom, admin):
    """Google answers redirect_uri_mismatch: at the exchange the app sent the wrong platform, so the app reads
    code_rejected (sign in again), and the operator's misconfiguration alarm stays quiet."""
    import prometheus_client

    labels = {"endpoint": "oauth.token.authorization_code", "error": "redirect_uri_mismatch"}
    alarm = "darkroom_google_configuration_errors_total"
    before = prometheus_client.REGISTRY.get_sample_value(alarm, labels) or 0.0
    user = admin.add_user()
    code = admin.mint_code(user["sub"], redirect_uri="postmessage")
    status = darkroom.wait(darkroom.submit(code), "awaiting_pick")
    assert status["status"] == "failed" and status["error"]["code"] == "code_rejected"
    assert (prometheus_client.REGISTRY.get_sample_value(alarm, labels) or 0.0) == before


def test_one_thread_s_exchanges_and_refreshes_keep_one_connection_to_the_token_endpoint(uc, admin):
    """A new connection for every code and every refresh cost a TLS handshake at Google, in the seconds a user
    waits for the Picker link (issue #27)."""
    from workers.grants import tokens

    subs = [exchanged(uc, admin).sub for _ in range(2)]
    for sub in subs:
        tokens.refresh(uc.ctx, sub, stale=tokens.access_for(uc.ctx, sub).token)
    peers = [r["peer"] for r in admin.requests() if r["endpoint"].startswith("oauth.token.")]
    assert len(peers) == 4 and len(set(peers)) == 1, peers


@pytest.mark.slow
def test_a_token_endpoint_connection_dropped_while_idle_is_not_used_for_a_code(uc, admin):
    """uvicorn (the emulator) drops a keep-alive connection after 5 s idle, as Google's front ends do: a code
    posted on it would fail, and a single-use code must not be sent into a dead connection."""
    import time

    exchanged(uc, admin)
    time.sleep(6)
    done = exchanged(uc, admin)
    assert grants.get(uc.ctx.db, done.sub) is not None and admin.counts()["oauth.token.authorization_code"] == 2
