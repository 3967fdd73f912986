"""Access tokens: reused while fresh, refreshed once when Google refuses them, and a dead grant stops the user."""

from __future__ import annotations

import pytest

from tests.support.stub import exchanged, picked
from workers.errors import GrantRevoked, Unavailable
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
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.REVOKED  # type: ignore[union-attr]
    assert grants.refresh_token_of(uc.ctx.db, uc.ctx.vault, done.sub) is None
    assert {items.get(uc.ctx.db, i).state for i in item_ids} == {ItemState.FAILED}  # type: ignore[union-attr]
    assert submissions.get(uc.ctx.db, done.submission_id).status == SubmissionStatus.FAILED  # type: ignore[union-attr]


def test_a_token_endpoint_outage_on_refresh_is_unavailable_and_the_grant_stays(uc, admin):
    done = exchanged(uc, admin)
    admin.inject_fault("oauth.token.refresh_token", status=503)
    with pytest.raises(Unavailable):
        tokens.refresh(uc.ctx, done.sub, stale=tokens.access_for(uc.ctx, done.sub).token)
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.ACTIVE  # type: ignore[union-attr]
