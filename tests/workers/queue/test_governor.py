"""The quota governor on its own, over Redis (every process shares it) and in memory (the embedded default)."""

from __future__ import annotations

import time

import pytest

from settings import Settings
from workers.errors import QuotaWait
from workers.google.quota import utcnow
from workers.queue.governor import Governor

BUDGET = 3
UPLOAD = "library.uploads"


@pytest.fixture(params=["redis", "memory"])
def governor(request: pytest.FixtureRequest) -> Governor:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    settings = Settings(
        redis_url=redis_url, library_daily_quota=BUDGET, quota_probe_interval_s=0.5, rate_limit_min_delay_s=0.3
    )
    return Governor(settings)


def calls_allowed(governor: Governor, tries: int) -> int:
    allowed = 0
    for _ in range(tries):
        try:
            governor.before(UPLOAD)
        except QuotaWait:
            continue
        governor.answered(UPLOAD, None)
        allowed += 1
    return allowed


def test_the_budget_pauses_the_api_before_google_refuses_and_the_count_stays_at_the_budget(governor):
    assert calls_allowed(governor, BUDGET) == BUDGET
    with pytest.raises(QuotaWait) as raised:
        governor.before(UPLOAD)
    assert raised.value.daily and governor.paused_until() is not None
    [library] = [use for use in governor.report() if use.api == "library"]
    assert library.used == BUDGET and library.budget == BUDGET
    governor.before("picker.sessions.get")  # another API is not paused


def test_while_paused_one_call_per_probe_interval_goes_through(governor):
    calls_allowed(governor, BUDGET + 1)
    governor.before(UPLOAD)  # the probe
    with pytest.raises(QuotaWait):
        governor.before(UPLOAD)  # not a second one in the same interval
    governor.answered(UPLOAD, QuotaWait("refused", governor.paused_until() or utcnow(), daily=True))
    time.sleep(0.6)
    governor.before(UPLOAD)  # the next interval's probe
    [library] = [use for use in governor.report() if use.api == "library"]
    assert library.probes == 2


def test_a_probe_that_succeeds_starts_the_budget_anew(governor):
    """Google's day turned (or the quota was raised): the next pause comes from our count, not from a burst of
    refused calls at Google's own limit."""
    calls_allowed(governor, BUDGET + 1)
    probe = governor.before(UPLOAD)
    assert probe
    governor.answered(UPLOAD, None, probe)  # and Google took it
    assert governor.paused_until() is None
    assert calls_allowed(governor, BUDGET * 2) == BUDGET - 1  # the probe was the first of the new budget
    assert governor.paused_until() is not None


def test_a_call_counted_within_the_budget_that_ends_after_the_pause_does_not_lift_it(governor):
    """Two threads: one call is the budget's last, and while it is at Google the next call finds the budget spent.
    The first one's success proves nothing of the quota: the pause stays, and so does the count."""
    calls_allowed(governor, BUDGET - 1)
    last = governor.before(UPLOAD)  # in flight
    with pytest.raises(QuotaWait):
        governor.before(UPLOAD)
    governor.answered(UPLOAD, None, last)
    assert not last
    assert governor.paused_until() is not None
    [library] = [use for use in governor.report() if use.api == "library"]
    assert library.used == BUDGET


def test_a_per_minute_429_slows_every_caller_of_that_api_together(governor):
    governor.before(UPLOAD)
    governor.answered(UPLOAD, QuotaWait("slow down", utcnow(), daily=False))
    with pytest.raises(QuotaWait) as raised:
        governor.before("library.mediaItems.batchCreate")
    assert not raised.value.daily
    time.sleep(0.35)
    governor.before(UPLOAD)


@pytest.mark.parametrize("store", ["redis", "memory"])
def test_the_last_of_the_day_is_kept_for_users_who_have_used_little_of_it(request, store):
    redis_url = request.getfixturevalue("redis_url") if store == "redis" else None
    settings = Settings(
        redis_url=redis_url, library_daily_quota=10, library_newcomer_reserve=0.3, library_light_user_calls=2
    )
    governor = Governor(settings)

    def allowed(sub: str, tries: int = 20) -> int:
        done = 0
        for _ in range(tries):
            try:
                governor.before(UPLOAD, sub)
            except QuotaWait as exc:
                assert exc.daily and governor.waiting_until(sub) is not None
                return done
            governor.answered(UPLOAD, None)
            done += 1
        return done

    assert allowed("heavy") == 7  # up to the reserve
    assert governor.paused_until() is None and governor.waiting_until("newcomer") is None
    assert allowed("newcomer") == 2  # a light user's share of the reserve
    assert allowed("another") == 1  # the day's last call; then the budget is spent, for everyone
    assert governor.paused_until() is not None
    [use] = [u for u in governor.report() if u.api == "library"]
    assert use.used == 10  # calls that waited were taken back
