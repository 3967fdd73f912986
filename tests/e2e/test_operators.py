"""Operator commands against the Procfile's processes on real Redis."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.client import AdminClient
from tests.support.processes import Stack, cli, running, wait_for

pytestmark = pytest.mark.e2e
INBOX = "darkroom inbox"


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, deployment) -> Iterator[tuple[Stack, AdminClient]]:
    fast = {"DARKROOM_PHOTOS_THREADS": "4", "DARKROOM_SWEEP_INTERVAL_S": "2", "DARKROOM_CREATE_BATCH_DELAY_MS": "300"}
    with running(tmp_path, redis_url, **deployment, **fast) as both:
        yield both


def darkroom(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, env=stack.env)


def sign_in(stack: Stack, admin: AdminClient, source: str = "inbox", **user_args) -> dict:
    user = admin.add_user(**user_args)
    wait_for(stack.submit(admin.mint_code(user["sub"]), source), "done")
    return user


@pytest.mark.timeout(480)
def test_reprocess_500_inbox_items_across_5_users_then_a_second_run_does_nothing(stack):
    processes, admin = stack
    users = [sign_in(processes, admin) for _ in range(5)]  # signed in while their inboxes were empty
    for n, user in enumerate(users):
        admin.fill_album(user["sub"], INBOX, photos=100, width=96, height=72, seed=n * 100)

    dry = darkroom(processes, "reprocess", "--all", "--source", "inbox", "--dry-run")
    assert dry.returncode == 0 and "5 inbox scans to send" in dry.stderr
    assert admin.counts().get("library.uploads", 0) == 0

    started = time.monotonic()
    first = darkroom(
        processes, "reprocess", "--all", "--source", "inbox", "--rate", "50", "--wait", "--wait-timeout", "240"
    )
    assert first.returncode == 0, first.stderr
    assert "5/5 sent" in first.stderr and "500/500 items (0 failed)" in first.stderr  # the progress bars
    took = time.monotonic() - started
    after_first = admin.counts()
    assert after_first["library.uploads"] == 500
    for user in users:
        [target] = [a for a in admin.state()["albums"] if a["sub"] == user["sub"] and a["title"] != INBOX]
        assert len(target["items"]) == 100
    assert after_first["library.mediaItems.batchCreate"] <= 5 * 3 + 5  # batches of up to 49

    second = darkroom(processes, "reprocess", "--all", "--source", "inbox", "--rate", "50", "--wait")
    assert second.returncode == 0, second.stderr
    after_second = admin.counts()
    for endpoint in ("library.uploads", "library.mediaItems.batchCreate", "content.download"):
        assert after_second[endpoint] == after_first[endpoint], endpoint
    print(f"reprocessed 500 inbox items across 5 users in {took:.1f} s")


def test_reprocess_failed_items_and_stale_filters(stack):
    processes, admin = stack
    user = sign_in(processes, admin)
    # One photo: with several, two photos processes downloading at once could each meet one of the two 404s.
    admin.fill_album(user["sub"], INBOX, photos=1, width=96, height=72)
    # Gone twice: the first 404 makes darkroom fetch a fresh base URL, the second fails the item for good.
    admin.inject_fault("content.download", status=404, count=2)
    result = darkroom(processes, "reprocess", "--user", user["sub"], "--rate", "50", "--wait")
    assert result.returncode == 0 and "(1 failed)" in result.stderr
    again = darkroom(processes, "reprocess", "--user", user["sub"], "--failed", "--rate", "50", "--wait")
    assert again.returncode == 0, again.stderr
    assert "1 failed items to send" in again.stderr and "1/1 items (0 failed)" in again.stderr
    stale = darkroom(processes, "reprocess", "--all", "--stale-recipe", "--dry-run")
    assert "0 inbox scans to send" in stale.stderr  # everything is at the current recipe
    picker = darkroom(processes, "reprocess", "--all", "--source", "picker", "--dry-run")
    assert "0 inbox scans to send" in picker.stderr


def test_status_and_dead_letters(stack, redis_url):
    processes, admin = stack
    admin.inject_fault("oauth.token.authorization_code", status=400, count=2)  # two codes refused for good
    for _ in range(2):
        processes.submit(admin.mint_code(admin.add_user()["sub"]))
    deadline = time.monotonic() + 30
    while json.loads(darkroom(processes, "status", "--json").stdout)["queues"]["exchange"]["dead"] < 2:
        assert time.monotonic() < deadline, "no dead letters"
        time.sleep(0.5)

    status = json.loads(darkroom(processes, "status", "--json").stdout)
    assert status["submissions"] == {"failed": 2} and status["recent_failures"][0]["error"] == "code_rejected"
    assert set(status["queues"]) == {"exchange", "photos", "maintenance", "notify"}
    text = darkroom(processes, "status").stdout
    assert "queue exchange" in text and "dead      2" in text

    listed = darkroom(processes, "dead", "list", "--queue", "exchange")
    assert "2 dead letters" in listed.stdout and "code_rejected: token endpoint" in listed.stdout
    first_id = listed.stdout.split()[0]
    shown = json.loads(darkroom(processes, "dead", "show", first_id).stdout)
    assert shown["actor"] == "exchange_code" and shown["message"]["args"] == shown["args"]
    assert "0 dead letters" in darkroom(processes, "dead", "list", "--reason", "nothing-matches-this").stdout

    replayed = darkroom(processes, "dead", "replay", "--queue", "exchange", "--reason", "code_rejected")
    assert "replayed 2 dead letters" in replayed.stdout
    time.sleep(2)  # replayed: the exchange finds the code already dropped, and acks
    assert "0 dead letters" in darkroom(processes, "dead", "list").stdout

    admin.inject_fault("oauth.token.authorization_code", status=400, count=1)
    processes.submit(admin.mint_code(admin.add_user()["sub"]))
    deadline = time.monotonic() + 30
    while "1 dead letters" not in darkroom(processes, "dead", "list").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert "purged 1 dead letters" in darkroom(processes, "dead", "purge").stdout
    assert "0 dead letters" in darkroom(processes, "dead", "list").stdout
