"""Fair share against real processes, real Redis and the emulator: light users who pick while a heavy user's
photos fill the photos queue are served in turn, not after all of them (workers.photos.turns)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy

from emulator.client import AdminClient
from tests.support.processes import Stack, running, wait_for
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WINDOW = 4
HEAVY, LIGHT, LIGHT_PHOTOS = 120, 3, 2


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, deployment) -> Iterator[tuple[Stack, AdminClient]]:
    env = {"DARKROOM_PHOTOS_THREADS": "2", "DARKROOM_PHOTOS_USER_WINDOW": str(WINDOW), "DARKROOM_SWEEP_INTERVAL_S": "1"}
    with running(tmp_path, redis_url, **deployment, **env) as both:
        yield both


def uploads(database_url: str) -> list[tuple[str, datetime.datetime]]:
    """Each item's user and when its upload finished, in that order (darkroom's own ledger)."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = "SELECT sub, uploaded_at FROM items WHERE uploaded_at IS NOT NULL ORDER BY uploaded_at"
            rows = connection.execute(sqlalchemy.text(query))
            return [
                (sub, at if isinstance(at, datetime.datetime) else datetime.datetime.fromisoformat(at))
                for sub, at in rows
            ]
    finally:
        engine.dispose()


def test_light_users_who_pick_behind_a_heavy_user_are_served_in_turn(stack, deployment):
    stack, admin = stack
    heavy = admin.add_user(photos=HEAVY, width=640, height=480)
    lights = [admin.add_user(photos=LIGHT_PHOTOS, width=320, height=240) for _ in range(LIGHT)]
    urls: dict[str, Any] = {u["sub"]: stack.submit(admin.mint_code(u["sub"])) for u in (heavy, *lights)}
    for url in urls.values():
        wait_for(url, "awaiting_pick")
    admin.pick(sub=heavy["sub"])
    wait_for(urls[heavy["sub"]], "processing")
    for light in lights:
        admin.pick(sub=light["sub"])
    for light in lights:
        wait_for(urls[light["sub"]], "processing")
    fanned_out = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # the ledger keeps naive UTC

    light_done = {}
    for light in lights:
        done = wait_for(urls[light["sub"]], "done", timeout_s=120)
        assert done["counts"]["done"] == LIGHT_PHOTOS
        light_done[light["sub"]] = time.monotonic()
    heavy_status = requests.get(urls[heavy["sub"]], timeout=5).json()
    assert heavy_status["status"] == "processing", "the heavy user must still be at work when the light ones end"
    wait_for(urls[heavy["sub"]], "done", timeout_s=240)

    order = uploads(deployment["database_url"])
    light_subs = {u["sub"] for u in lights}
    last_light = max(at for sub, at in order if sub in light_subs)
    heavy_between = [at for sub, at in order if sub == heavy["sub"] and fanned_out < at <= last_light]
    heavy_after = [at for sub, at in order if sub == heavy["sub"] and at > last_light]
    # First come, first served would upload all the heavy user's queued photos first (about 100 of them).
    assert len(heavy_between) <= 3 * WINDOW, f"{len(heavy_between)} of the heavy user's photos went first"
    assert len(heavy_after) >= HEAVY // 2
    assert len(order) == HEAVY + LIGHT * LIGHT_PHOTOS
    wait_until(lambda: len(admin.state()["albums"]) == 1 + LIGHT, timeout_s=10, what="albums")
