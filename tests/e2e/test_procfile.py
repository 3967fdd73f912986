"""End to end: the Procfile's processes on real Redis, the emulator in its own process, all over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from emulator.client import AdminClient
from tests.e2e.procfile import Processes, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[tuple[Processes, AdminClient, str]]:
    processes = Stack(tmp_path, f"sqlite:///{tmp_path / 'darkroom.db'}", redis_url)
    try:
        processes.up("web", "exchange", "photos", "maintenance")
        admin = AdminClient(processes.emulator_url)
        yield processes, admin, processes.web_url
        admin.close()
    finally:
        processes.stop_all()


def submit_and_pick(admin: AdminClient, web: str, photos: int) -> tuple[dict, dict]:
    user = admin.add_user(photos=photos, width=640, height=480)
    headers = {"X-Requested-With": "e2e"}
    response = requests.post(f"{web}/v1/auth-codes", json={"code": admin.mint_code(user["sub"])}, headers=headers)
    assert response.status_code == 202
    status_url = web + response.json()["status_url"]
    wait_for(status_url, "awaiting_pick")
    admin.pick(sub=user["sub"])
    return user, wait_for(status_url, "done")


def wait_for(url: str, wanted: str, timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = requests.get(url).json()
        if status["status"] in (wanted, "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"still {status} after {timeout_s} s")


def redis_dump(url: str) -> str:
    """Every key of the test database with its whole value, whatever its type."""
    client = redis.Redis.from_url(url)
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "list": lambda key: client.lrange(key, 0, -1),
        "set": client.smembers,
        "zset": lambda key: client.zrange(key, 0, -1),
    }
    out = []
    for key in client.scan_iter(count=1000):
        read = readers.get(client.type(key).decode(), lambda key: b"")
        out.append(f"{key!r} {read(key)!r}")
    client.close()
    return "\n".join(out)


def test_procfile_processes_take_a_code_to_an_album(stack, redis_url, tmp_path):
    processes, admin, web = stack
    user, status = submit_and_pick(admin, web, photos=4)
    assert status["status"] == "done" and status["counts"] == {"total": 4, "done": 4}
    counts = admin.counts()
    assert counts["oauth.token.authorization_code"] == 1
    [album] = admin.state()["albums"]
    assert album["sub"] == user["sub"] and len(album["items"]) == 4
    assert counts["library.albums.create"] == 1 and counts["library.uploads"] == 4

    # No code or token in plaintext: not in the database file, not in Redis, not in any process's log.
    issued = admin.tokens()
    secrets = [s for kind in ("codes", "access_tokens", "refresh_tokens", "upload_tokens") for s in issued[kind]]
    assert len(secrets) >= 1 + 1 + 1 + 4
    database = b"".join(p.read_bytes() for p in tmp_path.glob("darkroom.db*"))
    broker = redis_dump(redis_url)
    logs = processes.logs()
    assert "exchange_code" in broker or "dramatiq" in broker  # the dump did see the broker's keys
    assert "code exchanged" in logs and "batchCreate of 4 items" in logs  # and the logs are there to search
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in broker
        assert secret not in logs
