"""Fair share against real processes, real Redis and the emulator: light users who pick while a heavy user's
photos fill the photos queue are served in turn, not after all of them (workers.photos.turns)."""

from __future__ import annotations

import datetime
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
    """The photos workers are stopped while everyone picks (as when a heavy pick fills the queue faster than the
    workers drain it), so the order the queue serves them in is what the test reads, not a race."""
    stack, admin = stack
    stack.kill("photos", signal.SIGTERM)
    heavy = admin.add_user(photos=HEAVY, width=640, height=480)
    lights = [admin.add_user(photos=LIGHT_PHOTOS, width=320, height=240) for _ in range(LIGHT)]
    urls: dict[str, Any] = {u["sub"]: stack.submit(admin.mint_code(u["sub"])) for u in (heavy, *lights)}
    for url in urls.values():
        wait_for(url, "awaiting_pick")
    admin.pick(sub=heavy["sub"])
    assert wait_for(urls[heavy["sub"]], "processing")["counts"]["waiting"] == HEAVY
    for light in lights:
        admin.pick(sub=light["sub"])
    for light in lights:
        wait_for(urls[light["sub"]], "processing")
    stack.start_procfile("photos")

    for url in urls.values():
        done = wait_for(url, "done", timeout_s=240)
        assert done["counts"]["failed"] == 0 and done["counts"]["waiting"] == 0
    order = [sub for sub, _ in uploads(deployment["database_url"])]
    assert len(order) == HEAVY + LIGHT * LIGHT_PHOTOS
    light_subs = {u["sub"] for u in lights}
    last_light = max(rank for rank, sub in enumerate(order) if sub in light_subs)
    # Served in turn: ahead of the light users' last photo, at most about a window of the heavy user's (and
    # the photos the workers took in hand meanwhile). First come, first served puts all 120 ahead.
    heavy_ahead = sum(1 for sub in order[:last_light] if sub == heavy["sub"])
    assert heavy_ahead <= 2 * WINDOW + LIGHT * LIGHT_PHOTOS, f"{heavy_ahead} of the heavy user's photos went first"
    wait_until(lambda: len(admin.state()["albums"]) == 1 + LIGHT, timeout_s=10, what="albums")
