"""Keep-alive: Google ends a refresh token unused for six months (the emulator's clock moves months ahead). The
maintenance sweep's keep-alive refreshes grants idle for DARKROOM_GRANT_KEEPALIVE_DAYS, each at its own time of
the day; with it off, the same idle grant ends and the user must consent again."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select

from tests.support.stub import exchanged, harness, posted
from workers.errors import GrantRevoked
from workers.grants import keepalive, tokens
from workers.store import grants
from workers.store.models import Grant, utcnow
from workers.store.states import GrantState

MONTH = datetime.timedelta(days=31)


def _pass(h, admin, time: datetime.timedelta) -> None:
    """`time` passes: at Google (its clock moves) and in darkroom's store (every grant's times move back)."""
    admin.advance_clock(time.total_seconds())
    with h.ctx.db.session() as s:
        for grant in s.scalars(select(Grant)):
            grant.refresh_used_at = grant.refresh_used_at and grant.refresh_used_at - time
            grant.last_refresh_at = grant.last_refresh_at and grant.last_refresh_at - time


def _seven_months(h, admin) -> list[dict[str, int]]:
    """Seven months pass, a month at a time; what each month's keep-alive did."""
    passes = []
    for _ in range(7):
        _pass(h, admin, MONTH)
        passes.append(keepalive.keep_alive(h.ctx))
    return passes


def test_keep_alive_keeps_an_idle_grant_alive_across_seven_months(uc, admin):
    done = exchanged(uc, admin)
    assert _seven_months(uc, admin) == [{"refreshed": 1}] * 7
    stale = tokens.access_for(uc.ctx, done.sub).token  # its use by a photo after seven months
    assert tokens.refresh(uc.ctx, done.sub, stale=stale).token != stale
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.ACTIVE


def test_with_keep_alive_off_the_same_idle_grant_ends_after_six_months(settings, admin):
    with harness(settings.model_copy(update={"grant_keepalive_days": 0})) as h:
        done = exchanged(h, admin)
        assert _seven_months(h, admin) == [{}] * 7
        with pytest.raises(GrantRevoked):
            tokens.refresh(h.ctx, done.sub, stale=tokens.access_for(h.ctx, done.sub).token)
        assert grants.get(h.ctx.db, done.sub).state == GrantState.REVOKED


def test_the_days_idle_grants_come_due_spread_over_the_day_and_one_just_refreshed_is_left_alone(uc, admin):
    users = [exchanged(uc, admin).sub for _ in range(8)]
    hours = {sub: keepalive._hour_of(sub) for sub in users}  # noqa: SLF001 - each user's time of the day
    _pass(uc, admin, datetime.timedelta(days=30, hours=12))
    early = {sub for sub, hour in hours.items() if hour < datetime.timedelta(hours=12)}
    assert keepalive.keep_alive(uc.ctx) == ({"refreshed": len(early)} if early else {})
    assert {sub for sub in users if grants.get(uc.ctx.db, sub).last_refresh_at is not None} == early
    assert keepalive.keep_alive(uc.ctx) == {}  # the rest are not due yet, and these were refreshed just now
    _pass(uc, admin, datetime.timedelta(hours=12))
    late = set(users) - early
    assert keepalive.keep_alive(uc.ctx) == ({"refreshed": len(late)} if late else {})
    assert 0 < len(early) < len(users)  # eight users' times of the day fall both sides of noon (from their subs)


def test_a_grant_that_ended_at_google_is_revoked_by_the_keep_alive(uc, admin):
    done = exchanged(uc, admin)
    admin.revoke(done.sub)
    _pass(uc, admin, MONTH)
    assert keepalive.keep_alive(uc.ctx) == {"ended": 1}
    assert grants.get(uc.ctx.db, done.sub).state == GrantState.REVOKED


def test_time_limited_access_is_kept_from_each_answer_and_status_warns_a_week_ahead(uc, admin):
    from workers.grants import exchange
    from workers.operations import report

    lasting = exchanged(uc, admin)
    limited = posted(uc, admin, refresh_token_expires_in=6 * 86_400)  # the user chose six days
    exchange.exchange_code(uc.ctx, limited.submission_id)
    ends = grants.get(uc.ctx.db, limited.sub).refresh_expires_at
    assert ends is not None and abs((ends - utcnow()).total_seconds() - 6 * 86_400) < 60
    assert grants.get(uc.ctx.db, lasting.sub).refresh_expires_at is None
    assert report.grant_health(uc.ctx)["expiring_within_7_days"] == 1
    _pass(uc, admin, datetime.timedelta(days=2))
    tokens.refresh(uc.ctx, limited.sub, stale=tokens.access_for(uc.ctx, limited.sub).token)
    again = grants.get(uc.ctx.db, limited.sub).refresh_expires_at  # Google says again what is left: 4 days
    assert again is not None and abs((again - utcnow()).total_seconds() - 4 * 86_400) < 60


def test_a_slow_token_endpoint_holds_the_sweep_no_longer_than_the_keep_alives_budget(uc, admin):
    subs = [exchanged(uc, admin).sub for _ in range(5)]
    _pass(uc, admin, datetime.timedelta(days=31))
    admin.inject_fault("oauth.token.refresh_token", delay_s=0.2, count=5)  # each answer takes 0.2 s
    refreshed = keepalive.keep_alive(uc.ctx, budget_s=0.3).get("refreshed", 0)
    assert 1 <= refreshed <= 2  # none started past 0.3 s
    assert keepalive.keep_alive(uc.ctx).get("refreshed", 0) == len(subs) - refreshed  # the next sweep: the rest
