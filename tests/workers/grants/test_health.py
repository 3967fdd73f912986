"""Health per grant, from what Google really answered over HTTP: a user whose calls all succeed is healthy, one
whose refreshes all fail is failing (named by darkroom status, found by users list --health failing), one with
more than a tenth of the day's calls failed is degraded; the last error says where and what Google answered."""

from __future__ import annotations

import contextlib

import pytest
from starlette.testclient import TestClient

from ingest.app import create_app
from tests.support.processes import cli, env_of
from tests.support.stub import exchanged
from tests.workers.store.conftest import dump
from workers.errors import RefreshWait, Unavailable
from workers.grants import tokens
from workers.operations import report
from workers.store import reports


def _calls(uc, sub: str, n: int) -> None:
    for _ in range(n):
        with tokens.photos_for(uc.ctx, sub) as photos, contextlib.suppress(Unavailable):
            photos.find_album("none")


def _health(uc, sub: str) -> dict:
    shown = reports.user(uc.ctx.db, sub)
    assert shown is not None
    return shown["health"]


def test_health_follows_what_google_answered_for_each_user(uc, admin, settings):
    well, shaky, sick = (exchanged(uc, admin).sub for _ in range(3))
    _calls(uc, well, 10)
    admin.inject_fault("library.albums.list", status=503, count=2)
    _calls(uc, shaky, 10)  # 2 of 10 failed: more than a tenth
    admin.inject_fault("oauth.token.refresh_token", status=500, for_s=60)
    with pytest.raises(RefreshWait):
        tokens.refresh(uc.ctx, sick, stale=tokens.access_for(uc.ctx, sick).token)
    uc.ctx.health.flush()

    states = {sub: _health(uc, sub) for sub in (well, shaky, sick)}
    assert states[well] == {
        "state": "healthy", "refreshes": {"ok": 0, "failed": 0}, "calls": {"ok": 10, "failed": 0},
        "last_error": None, "last_error_at": None,
    }  # fmt: skip
    assert states[shaky]["state"] == "degraded" and states[shaky]["calls"] == {"ok": 8, "failed": 2}
    assert states[shaky]["last_error"].startswith("library.albums.list: Unavailable: ")
    assert states[sick]["state"] == "failing" and states[sick]["refreshes"] == {"ok": 0, "failed": 1}
    assert states[sick]["last_error"].startswith("oauth.token.refresh_token: Unavailable: ")
    assert "HTTP 500" in states[sick]["last_error"] and states[sick]["last_error_at"].endswith("Z")

    assert [user["sub"] for user in reports.users(uc.ctx.db, health_state="failing")] == [sick]
    found = report.grant_health(uc.ctx)
    assert found["users"] == {"healthy": 1, "degraded": 1, "failing": 1} and list(found["failing"]) == [sick]

    with TestClient(create_app(uc.ctx.settings), client=("127.0.0.1", 5000)) as web:
        scraped = web.get("/metrics").text  # counts, no user named
    assert 'darkroom_grants_health{health="failing"} 1' in scraped and 'darkroom_grants{state="active"} 3' in scraped
    assert sick not in scraped
    issued = admin.tokens()  # every access and refresh token Google issued: none in the table
    kept = dump(uc.ctx.db)
    assert "library.albums.list: Unavailable" in kept  # the health rows are in what is searched
    assert all(token not in kept for tokens_of_a_kind in issued.values() for token in tokens_of_a_kind)

    listed = cli("users", "list", "--health", "failing", env=env_of(settings))
    assert listed.returncode == 0 and sick in listed.stdout and well not in listed.stdout, listed.stderr
    assert "failing" in listed.stdout and "oauth.token.refresh_token" in listed.stdout
    status = cli("status", env=env_of(settings))
    assert f"failing grant {sick}: oauth.token.refresh_token" in status.stdout, status.stdout + status.stderr
    assert "health       healthy 1, degraded 1, failing 1" in status.stdout


def test_a_failed_refresh_that_succeeds_later_leaves_the_grant_healthy_or_degraded_not_failing(uc, admin):
    sub = exchanged(uc, admin).sub
    admin.inject_fault("oauth.token.refresh_token", status=500)
    with pytest.raises(RefreshWait):
        tokens.refresh(uc.ctx, sub, stale=tokens.access_for(uc.ctx, sub).token)
    uc.ctx.locks.warm(f"refresh:{sub}")  # its cool-down over
    tokens.refresh(uc.ctx, sub, stale=tokens.access_for(uc.ctx, sub).token)
    _calls(uc, sub, 8)
    uc.ctx.health.flush()
    found = _health(uc, sub)
    assert found["refreshes"] == {"ok": 1, "failed": 1} and found["calls"] == {"ok": 8, "failed": 0}
    assert found["state"] == "healthy"  # 1 of 10 failed: not more than a tenth
    assert found["last_error"].startswith("oauth.token.refresh_token")
