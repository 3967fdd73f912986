"""Refresh tokens end as Google's do: unused for six months, or when the time-based access the user chose is up,
on a clock a test can move months ahead (developers.google.com/identity/protocols/oauth2#expiration)."""

from __future__ import annotations

import requests

from emulator.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.support.google import redeem

DAY_S = 86_400


def _refresh(url: str, refresh_token: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    return requests.post(f"{url}/token", data=form, timeout=10)


def _granted(emulator, admin, **code_args) -> dict:
    user = admin.add_user()
    return redeem(emulator.url, admin.mint_code(user["sub"], **code_args)).json()


def test_a_refresh_token_unused_for_six_months_ends_and_one_used_monthly_lives(emulator, admin):
    idle, used = _granted(emulator, admin), _granted(emulator, admin)
    assert "refresh_token_expires_in" not in idle  # ongoing access: Google names no end
    for _ in range(7):  # seven months
        admin.advance_clock(30 * DAY_S)
        assert _refresh(emulator.url, used["refresh_token"]).status_code == 200
    ended = _refresh(emulator.url, idle["refresh_token"])
    assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant"
    assert ended.json()["error_description"] == "Token has been expired or revoked."


def test_a_refresh_token_used_within_six_months_still_works_and_the_clock_ages_access_tokens(emulator, admin):
    granted = _granted(emulator, admin)
    api = {"Authorization": f"Bearer {granted['access_token']}"}
    admin.advance_clock(179 * DAY_S)
    assert requests.get(f"{emulator.url}/library/v1/albums", headers=api, timeout=10).status_code == 401
    assert _refresh(emulator.url, granted["refresh_token"]).status_code == 200


def test_time_based_access_says_when_it_ends_and_ends_then(emulator, admin):
    granted = _granted(emulator, admin, refresh_token_expires_in=15_551_999)  # about 180 days, as Android's
    assert 15_551_990 <= granted["refresh_token_expires_in"] <= 15_551_999
    admin.advance_clock(100 * DAY_S)
    refreshed = _refresh(emulator.url, granted["refresh_token"]).json()
    assert 15_551_999 - 100 * DAY_S - 10 <= refreshed["refresh_token_expires_in"] <= 15_551_999 - 100 * DAY_S
    admin.advance_clock(81 * DAY_S)  # used on day 100, yet it ends on day 180
    assert _refresh(emulator.url, granted["refresh_token"]).json()["error"] == "invalid_grant"
