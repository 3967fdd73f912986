"""Refresh is single-flight across processes: 20 concurrent item jobs for one user, one refresh at Google."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from emulator.client import AdminClient
from tests.support.processes import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_twenty_concurrent_items_with_an_expired_token_cause_one_refresh(tmp_path: Path, redis_url, postgres_url):
    stack = Stack(
        tmp_path,
        postgres_url,
        redis_url,
        DARKROOM_PHOTOS_PROCESSES="2",
        DARKROOM_PHOTOS_THREADS="10",
        DARKROOM_PHOTOS_USER_WINDOW="20",  # all twenty at once: the user's turn allows them all
        dramatiq_queue_prefetch="10",
    )
    admin = None
    try:
        stack.up("web", "exchange", "maintenance")  # no photos worker yet: the items wait in Redis
        admin = AdminClient(stack.emulator_url)
        user = admin.add_user(photos=20, width=320, height=240)
        status_url = stack.submit(admin.mint_code(user["sub"]))
        wait_for(status_url, "awaiting_pick")
        admin.pick(sub=user["sub"])
        assert wait_for(status_url, "processing")["counts"] == {
            "total": 20,
            "done": 0,
            "failed": 0,
            "skipped": 0,
            "waiting": 20,
        }

        # The user's access token expires, here and at Google, before any item starts.
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("UPDATE grants SET access_expires_at = '2000-01-01'"))
        engine.dispose()
        admin.expire_access_tokens(user["sub"])
        refreshes_before = admin.counts().get("oauth.token.refresh_token", 0)

        stack.start_procfile("photos")  # 2 processes x 10 threads take the 20 items at once
        assert wait_for(status_url, "done", timeout_s=120)["counts"] == {
            "total": 20,
            "done": 20,
            "failed": 0,
            "skipped": 0,
            "waiting": 0,
        }
        assert admin.counts()["oauth.token.refresh_token"] - refreshes_before == 1
        assert admin.counts()["library.uploads"] == 20
    finally:
        if admin is not None:
            admin.close()
        stack.stop_all()
