"""Access tokens: reused while fresh, refreshed once when Google refuses them, and a dead grant stops the user."""

from __future__ import annotations

import time

import pytest

from tests.support.stub import exchanged, harness, picked
from workers.errors import GrantRevoked, Misconfigured, RefreshWait, Unavailable
from workers.grants import tokens
from workers.store import grants, items, submissions
from workers.store.states import GrantState, ItemState, SubmissionStatus


def test_a_fresh_token_is_reused_without_a_refresh(uc, admin):
    done = exchanged(uc, admin)
    first = tokens.access_for(uc.ctx, done.sub)
    assert tokens.access_for(uc.ctx, done.sub).token == first.token
    assert "oauth.token.refresh_token" not in admin.counts()


def test_a_token_google_refuses_is_refreshed_once_and_the_call_goes_on(uc, admin):
    done = exchanged(uc, admin)
    admin.expire_access_tokens(done.sub)  # Google drops it early: the next call gets 401
    with tokens.photos_for(uc.ctx, done.sub) as photos:
        assert photos.find_album("no such album") is None
    assert admin.counts()["oauth.token.refresh_token"] == 1


def test_invalid_grant_on_refresh_revokes_and_stops_the_users_work(uc, admin):
    done, item_ids = picked(uc, admin, photos=2)
    admin.revoke(done.sub)  # the user removed darkroom's access in their Google account
    with pytest.raises(GrantRevoked):
        tokens.refresh(uc.ctx, done.sub, stale=tokens.access_for(uc.ctx, done.sub).token)
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.REVOKED
    assert grants.refresh_token_of(uc.ctx.db, uc.ctx.vault, done.sub) is None
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.FAILED}
    assert submissions.get(uc.ctx.db, done.submission_id).status == SubmissionStatus.FAILED


def test_a_token_endpoint_outage_on_refresh_is_a_wait_and_the_grant_stays(uc, admin):
    done = exchanged(uc, admin)
    admin.inject_fault("oauth.token.refresh_token", status=503)
    with pytest.raises(RefreshWait) as raised:
        tokens.refresh(uc.ctx, done.sub, stale=tokens.access_for(uc.ctx, done.sub).token)
    assert isinstance(raised.value.__cause__, Unavailable) and raised.value.delay_s == 30.0
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.ACTIVE


def test_after_a_failed_refresh_the_users_refreshes_cool_down_and_google_is_not_asked(uc, admin):
    """No refresh storms: one failure makes every caller wait out the cool-down (30 s), asking Google nothing;
    another user's refreshes go on."""
    done, other = exchanged(uc, admin), exchanged(uc, admin)
    stale = tokens.access_for(uc.ctx, done.sub).token
    admin.inject_fault("oauth.token.refresh_token", status=500)
    with pytest.raises(RefreshWait) as first:
        tokens.refresh(uc.ctx, done.sub, stale=stale)
    assert first.value.delay_s == 30.0 and first.value.error_code == "token_refresh"
    for _ in range(5):
        with pytest.raises(RefreshWait) as waiting:
            tokens.refresh(uc.ctx, done.sub, stale=stale)
        assert 29.0 < (waiting.value.delay_s or 0) <= 30.0  # what is left of it
        assert waiting.value.__cause__ is None  # Google was not asked
    assert admin.counts()["oauth.token.refresh_token"] == 1
    tokens.refresh(uc.ctx, other.sub, stale=tokens.access_for(uc.ctx, other.sub).token)
    assert admin.counts()["oauth.token.refresh_token"] == 2


def test_the_cool_down_doubles_with_each_failure_in_a_row_and_a_success_starts_it_over(settings, admin):
    with harness(settings.model_copy(update={"refresh_cooldown_s": 0.2, "refresh_cooldown_max_s": 0.5})) as h:
        done = exchanged(h, admin)
        stale = tokens.access_for(h.ctx, done.sub).token
        admin.inject_fault("oauth.token.refresh_token", status=500, count=3)
        waits = []
        for _ in range(3):
            with pytest.raises(RefreshWait) as raised:
                tokens.refresh(h.ctx, done.sub, stale=stale)
            waits.append(raised.value.delay_s or 0)
            time.sleep(waits[-1] + 0.01)
        assert waits == [0.2, 0.4, 0.5]
        assert tokens.refresh(h.ctx, done.sub, stale=stale).token != stale
        admin.inject_fault("oauth.token.refresh_token", status=500)
        with pytest.raises(RefreshWait) as raised:
            tokens.refresh(h.ctx, done.sub, stale=tokens.access_for(h.ctx, done.sub).token)
        assert raised.value.delay_s == 0.2
        assert admin.counts()["oauth.token.refresh_token"] == 5


def test_invalid_request_on_refresh_is_a_misconfiguration_and_the_grant_stays(uc, admin):
    """RFC 6749 §5.2: only invalid_grant says a grant is dead; one configuration slip must not revoke users."""
    done = exchanged(uc, admin)
    admin.inject_fault("oauth.token.refresh_token", status=400, error="invalid_request")
    with pytest.raises(RefreshWait) as raised:
        tokens.refresh(uc.ctx, done.sub, stale=tokens.access_for(uc.ctx, done.sub).token)
    assert isinstance(raised.value.__cause__, Misconfigured) and "invalid_request" in str(raised.value.__cause__)
    grant = grants.get(uc.ctx.db, done.sub)
    assert grant is not None and grant.state == GrantState.ACTIVE and grant.refresh_secret is not None


@pytest.mark.parametrize("error", ["invalid_client", "unauthorized_client", "invalid_scope"])
def test_every_configuration_error_of_rfc_6749_keeps_the_grant(uc, admin, error):
    done = exchanged(uc, admin)
    admin.inject_fault("oauth.token.refresh_token", status=400, error=error)
    with pytest.raises(RefreshWait) as raised:  # a broken configuration must not become a storm either
        tokens.refresh(uc.ctx, done.sub, stale=tokens.access_for(uc.ctx, done.sub).token)
    assert isinstance(raised.value.__cause__, Misconfigured)
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.ACTIVE


def test_tokens_that_live_a_few_seconds_work_and_refresh_only_when_darkroom_says(uc, admin):
    """Google says expires_in; nothing promises an hour. google-auth's own 3 min 45 s threshold must not apply."""
    admin.set_lifetimes(access_token_s=4)
    done = exchanged(uc, admin, photos=1)
    with tokens.photos_for(uc.ctx, done.sub) as photos:
        photos.find_album("none")  # the token from the exchange, fresh for darkroom for another 2 s
    assert "oauth.token.refresh_token" not in admin.counts()
    time.sleep(2.2)  # darkroom's margin for a 4 s token is half its life
    with tokens.photos_for(uc.ctx, done.sub) as photos:
        photos.find_album("none")
        photos.find_album("none")
    assert admin.counts()["oauth.token.refresh_token"] == 1
