"""Google's project quota against real processes, real Redis and the emulator: a spent day pauses the work
without failing any of it, with at most one probe per interval, and it resumes when the day turns; a storm of
per-minute 429s ends with every photo in the album exactly once."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulator.client import AdminClient
from tests.support.processes import Stack, running, wait_for
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PROBE_S = 3
FAST = {
    "DARKROOM_SWEEP_INTERVAL_S": "1",
    "DARKROOM_STALE_AFTER_S": "5",
    "DARKROOM_RATE_LIMIT_MIN_DELAY_S": "1",
    "DARKROOM_HTTP_TIMEOUT_S": "5",
    "DARKROOM_CREATE_BATCH_DELAY_MS": "300",
    "DARKROOM_PHOTOS_THREADS": "2",
    "DARKROOM_QUOTA_PROBE_INTERVAL_S": str(PROBE_S),
}
MARKER = re.compile(r"-darkroom-([a-z2-7]{10})\.jpg$")


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, deployment) -> Iterator[tuple[Stack, AdminClient]]:
    with running(tmp_path, redis_url, **deployment, **FAST) as both:
        yield both


def refusals(admin: AdminClient) -> list[float]:
    return [r["at"] for r in admin.requests() if r["endpoint"].startswith("library.") and r["status"] == 429]


def test_a_spent_day_pauses_every_photo_without_failing_one_and_the_new_day_finishes_them(stack):
    stack, admin = stack
    user = admin.add_user(photos=12, width=320, height=240)
    url = stack.submit(admin.mint_code(user["sub"]))
    wait_for(url, "awaiting_pick")
    used = admin.quota()["used_today"]
    admin.quota(daily_limit=used + 6)  # the album lookup and creation, then a few uploads: the day ends mid-pick
    admin.pick(sub=user["sub"])

    wait_until(lambda: requests.get(url, timeout=5).json()["waiting"], timeout_s=60, what="waiting")
    status = requests.get(url, timeout=5).json()
    assert status["status"] == "processing" and status["waiting"]["reason"] == "google_quota"
    assert status["counts"]["waiting"] >= 1 and status["counts"]["failed"] == 0
    # Paused: at most one probe per interval, however many photos wait (and no item fails meanwhile).
    first = refusals(admin)[0]
    time.sleep(4 * PROBE_S)
    later = [at for at in refusals(admin) if at > first + 0.5]
    assert len(later) <= 4 + 1, f"{len(later)} refused calls in {4 * PROBE_S} s of pause"
    assert requests.get(url, timeout=5).json()["counts"]["failed"] == 0
    quota = stack_quota(stack)
    assert quota["library"]["paused_until"] is not None and quota["library"]["budget"] == 10_000
    scraped = requests.get(f"{stack.web_url}/metrics", timeout=5).text
    assert 'darkroom_google_quota_paused{api="library"} 1' in scraped
    assert 'darkroom_google_quota_budget{api="library"} 10000' in scraped

    admin.quota(daily_limit=used + 40)  # the next day has room for the rest
    admin.new_day()
    done = wait_for(url, "done", timeout_s=120)
    assert (
        done["counts"] == {"total": 12, "done": 12, "failed": 0, "skipped": 0, "waiting": 0} and done["waiting"] is None
    )
    [album] = admin.state()["albums"]
    markers = Counter(MARKER.search(i["filename"]).group(1) for i in album["items"])
    assert len(markers) == 12 and set(markers.values()) == {1}


def test_a_storm_of_per_minute_429s_is_waited_out_by_every_caller_together_and_ends_done_once(stack):
    stack, admin = stack
    user = admin.add_user(photos=16, width=320, height=240)
    url = stack.submit(admin.mint_code(user["sub"]))
    wait_for(url, "awaiting_pick")
    admin.inject_fault("library.*", status=429, count=12)  # no ErrorInfo for a day: a minute's limit, or hidden ones
    started = time.time()
    admin.pick(sub=user["sub"])
    done = wait_for(url, "done", timeout_s=180)
    assert done["counts"] == {"total": 16, "done": 16, "failed": 0, "skipped": 0, "waiting": 0}
    # Shared: after a 429 nobody calls the Library API until the wait is over (1 s here; 30 s by default),
    # where a per-message backoff would have let every other photo go on calling.
    calls = [r for r in admin.requests() if r["endpoint"].startswith("library.") and r["at"] > started]
    refused = [r["at"] for r in calls if r["status"] == 429]
    early = [c for c in calls for at in refused if at + 0.2 < c["at"] < at + 0.9]
    assert len(refused) == 12 and early == [], f"{len(early)} calls within a wait"
    [album] = admin.state()["albums"]
    markers = Counter(MARKER.search(i["filename"]).group(1) for i in album["items"])
    assert len(markers) == 16 and set(markers.values()) == {1}


def stack_quota(stack: Stack) -> dict[str, dict]:
    """`darkroom quota --json` as an operator runs it against the stack."""
    import json

    from tests.support.processes import cli

    result = cli("quota", "--json", env=stack.env)
    assert result.returncode == 0, result.stderr
    return {row["api"]: row for row in json.loads(result.stdout)["apis"]}
