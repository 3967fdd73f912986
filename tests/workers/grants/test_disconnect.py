"""DELETE /v1/me against a flood (security review row 4): malformed tokens cost no fetch, Google's certs are
fetched once per their Cache-Control, a slow fetch blocks no other route, and each client is rate limited."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from tests.support.embedded import running
from tests.support.google import redeem

HEADERS = {"X-Requested-With": "app"}


def delete_me(app, token: str) -> int:
    return requests.delete(f"{app.url}/v1/me", headers={**HEADERS, "Authorization": f"Bearer {token}"}).status_code


@pytest.mark.parametrize("token", ["a.b.c", "not-a-jwt", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000])
def test_a_malformed_token_is_refused_before_any_fetch(darkroom, admin, token):
    assert delete_me(darkroom, token) == 401
    assert "oauth.certs.v1" not in admin.counts()


def test_certs_are_fetched_once_per_their_cache_control(darkroom, admin, emulator):
    user = admin.add_user()
    tokens = [redeem(emulator.url, admin.mint_code(user["sub"], prompt="consent")).json()["id_token"] for _ in range(3)]
    assert [delete_me(darkroom, t) for t in tokens] == [202, 202, 202]
    assert admin.counts()["oauth.certs.v1"] == 1  # the emulator says max-age=3600, as Google does


def test_a_slow_certs_fetch_blocks_no_other_route(darkroom, admin, emulator):
    user = admin.add_user()
    token = redeem(emulator.url, admin.mint_code(user["sub"])).json()["id_token"]
    admin.inject_fault("oauth.certs.v1", delay_s=3, count=1)
    with concurrent.futures.ThreadPoolExecutor(45) as pool:
        slow = [pool.submit(delete_me, darkroom, token) for _ in range(45)]
        time.sleep(0.3)
        started = time.monotonic()
        status = requests.get(f"{darkroom.url}/v1/submissions/{'0' * 32}")
        took = time.monotonic() - started
        assert status.status_code == 404 and took < 1.5  # answered while 45 verifications wait on Google
        assert {f.result() for f in slow} <= {202, 429}


def test_each_client_is_rate_limited(settings, admin):
    with running(settings.model_copy(update={"rate_limit_per_minute": 3})) as app:
        answers = [delete_me(app, "a.b.c") for _ in range(5)]
    assert answers == [401, 401, 401, 429, 429]
