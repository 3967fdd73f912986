"""Chaos against real processes, real Redis and the emulator: every picked photo ends in the album exactly
once, and every submission ends final, within a stated time bound. Kills, restarts and partitions of the
processes and their data, at the shipped settings, are the fault matrix's (tests/faults)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from emulator.client import AdminClient
from tests.support.processes import Stack, running
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Short clocks so a run proves recovery in seconds: sweep every second, call work stuck after 5 s,
# 1 s after a 429 or a failed refresh, a 2 s HTTP timeout.
FAST = {
    "DARKROOM_SWEEP_INTERVAL_S": "1",
    "DARKROOM_STALE_AFTER_S": "5",
    "DARKROOM_RATE_LIMIT_MIN_DELAY_S": "1",
    "DARKROOM_REFRESH_COOLDOWN_S": "1",
    "DARKROOM_HTTP_TIMEOUT_S": "2",
    "DARKROOM_CREATE_BATCH_DELAY_MS": "300",
    "DARKROOM_PHOTOS_THREADS": "2",
}
BOUND_S = 120  # each scenario must end within this
MARKER = re.compile(r"-darkroom-([a-z2-7]{10})\.jpg$")


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, deployment) -> Iterator[tuple[Stack, AdminClient]]:
    with running(tmp_path, redis_url, **deployment, **FAST) as both:
        yield both


def start(stack: Stack, admin: AdminClient, photos: int) -> tuple[dict, str]:
    user = admin.add_user(photos=photos, width=640, height=480)
    return user, stack.submit(admin.mint_code(user["sub"]))


def status_of(url: str) -> dict:
    return requests.get(url, timeout=5).json()


def pick_when_ready(admin: AdminClient, user: dict, url: str) -> None:
    wait_until(lambda: status_of(url)["status"] == "awaiting_pick", BOUND_S, "awaiting pick")
    admin.pick(sub=user["sub"])


def assert_exactly_once(admin: AdminClient, user: dict, url: str, started: float) -> dict:
    wait_until(lambda: status_of(url)["status"] in ("done", "failed"), BOUND_S - (time.monotonic() - started), "final")
    status = status_of(url)
    [album] = [a for a in admin.state()["albums"] if a["sub"] == user["sub"]]
    markers = [MARKER.search(i["filename"]).group(1) for i in album["items"]]
    assert status["status"] == "done", status
    assert len(markers) == len(set(markers)) == len(user["media"]), "every picked photo exactly once"
    assert status["counts"] == {
        "total": len(user["media"]),
        "done": len(user["media"]),
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    return status


def test_faults_on_every_google_endpoint(stack, redis_url):
    processes, admin = stack
    started = time.monotonic()
    faults = [
        ("oauth.token.authorization_code", {"status": 503}),
        ("picker.sessions.create", {"status": 500}),
        ("picker.sessions.get", {"status": 503, "count": 2}),
        ("picker.mediaItems.list", {"status": 429, "retry_after_s": 1}),
        ("library.albums.list", {"status": 500}),
        ("library.albums.create", {"status": 503}),
        ("content.download", {"status": 500, "count": 2}),
        ("content.download", {"status": 403}),  # what Google answers for an expired base URL
        ("content.download", {"delay_s": 3}),  # a timeout (HTTP timeout is 2 s)
        ("library.uploads", {"status": 429, "retry_after_s": 1}),
        ("library.uploads", {"status": 503}),
        ("library.uploads", {"delay_s": 3}),
        # The emulator creates the items after this delay, but darkroom has timed out: an uncertain outcome.
        ("library.mediaItems.batchCreate", {"delay_s": 3}),
        ("library.mediaItems.batchCreate", {"status": 503}),
        ("library.mediaItems.search", {"status": 503}),
        ("oauth.token.refresh_token", {"status": 503}),
    ]
    for endpoint, fault in faults:
        admin.inject_fault(endpoint, **{"count": 1, **fault})
    user, url = start(processes, admin, photos=8)
    pick_when_ready(admin, user, url)
    admin.expire_access_tokens(user["sub"])  # so a refresh happens, and meets its fault
    assert_exactly_once(admin, user, url, started)
    hit = {r["endpoint"] for r in admin.requests() if r["status"] >= 400}
    assert {e for e, f in faults if "status" in f} <= hit  # every injected status was actually met
    assert not [f for f in admin.faults() if f["count"] > 0], "every fault was consumed"


def test_dead_letters_hold_ids_only(stack, redis_url):
    processes, admin = stack
    admin.inject_fault("oauth.token.authorization_code", status=400, count=1)  # Google refuses: permanent
    _, url = start(processes, admin, photos=0)
    wait_until(lambda: status_of(url)["status"] == "failed", 30, "failed")
    assert status_of(url)["error"]["code"] == "code_rejected"
    client = redis.Redis.from_url(redis_url)
    dead = [json.loads(v) for key in client.scan_iter("dramatiq:*.XQ.msgs") for v in client.hvals(key)]
    client.close()
    assert [m["actor_name"] for m in dead] == ["exchange_code"]  # went to the dead letters at once
    for message in dead:
        assert all(re.fullmatch(r"[0-9a-f]{32}", a) for a in message["args"]) and not message["kwargs"]
    issued = admin.tokens()
    text = json.dumps(dead)
    assert all(secret not in text for secret in issued["codes"] + issued["access_tokens"] + issued["refresh_tokens"])
