"""End to end: the Procfile's processes on real Redis, the emulator in its own process, all over HTTP."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from emulator.client import AdminClient
from tests.support.processes import Stack, running, wait_for, wait_http

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, deployment) -> Iterator[tuple[Stack, AdminClient, str]]:
    with running(tmp_path, redis_url, **deployment) as (processes, admin):
        yield processes, admin, processes.web_url


def submit_and_pick(processes: Stack, admin: AdminClient, photos: int) -> tuple[dict, dict]:
    user = admin.add_user(photos=photos, width=640, height=480)
    status_url = processes.submit(admin.mint_code(user["sub"]))
    wait_for(status_url, "awaiting_pick")
    admin.pick(sub=user["sub"])
    return user, wait_for(status_url, "done")


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


def database_bytes(database_url: str, tmp_path: Path) -> bytes:
    """Everything the database holds: SQLite's files as they are on disk, or every row of every PostgreSQL table."""
    if database_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("darkroom.db*"))
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = sqlalchemy.inspect(connection).get_table_names()
            rows = [row for t in tables for row in connection.execute(sqlalchemy.text(f'SELECT * FROM "{t}"'))]
    finally:
        engine.dispose()
    return "\n".join(repr(tuple(row)) for row in rows).encode()


def test_procfile_processes_take_a_code_to_an_album(stack, redis_url, tmp_path, deployment):
    processes, admin, _web = stack
    user, status = submit_and_pick(processes, admin, photos=4)
    assert status["status"] == "done" and status["counts"] == {
        "total": 4,
        "done": 4,
        "failed": 0,
        "skipped": 0,
        "waiting": 0,
    }
    counts = admin.counts()
    assert counts["oauth.token.authorization_code"] == 1
    [album] = admin.state()["albums"]
    assert album["sub"] == user["sub"] and len(album["items"]) == 4
    assert counts["library.albums.create"] == 1 and counts["library.uploads"] == 4

    # No code or token in plaintext: not in the database file, not in Redis, not in any process's log.
    issued = admin.tokens()
    secrets = [s for kind in ("codes", "access_tokens", "refresh_tokens", "upload_tokens") for s in issued[kind]]
    assert len(secrets) >= 1 + 1 + 1 + 4
    database = database_bytes(deployment["database_url"], tmp_path)
    assert user["sub"].encode() in database  # the dump did see the rows
    broker = redis_dump(redis_url)
    logs = processes.logs()
    assert "exchange_code" in broker or "dramatiq" in broker  # the dump did see the broker's keys
    assert "code exchanged" in logs and "batchCreate of 4 items" in logs  # and the logs are there to search
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    exchanged = [r for r in records if r["message"] == "code exchanged"]
    assert exchanged and exchanged[0]["sub"] == user["sub"] and "submission_id" in exchanged[0]  # ids, as fields
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in broker
        assert secret not in logs


def test_metrics_from_web_and_every_worker_type(stack):
    processes, admin, web = stack
    submit_and_pick(processes, admin, photos=3)
    assert "darkroom_codes_received_total 1.0" in requests.get(f"{web}/metrics").text
    scraped = {}
    for kind in ("exchange", "photos", "maintenance"):
        port = processes.env[f"DARKROOM_{kind.upper()}_METRICS_PORT"]
        scraped[kind] = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'dramatiq_messages_total{actor_name="exchange_code",queue_name="exchange"} 1.0' in scraped["exchange"]
    assert "darkroom_codes_exchanged_total 1.0" in scraped["exchange"]
    photos = scraped["photos"]
    assert 'darkroom_photos_processed_total{outcome="done"} 3.0' in photos
    assert 'darkroom_google_requests_total{endpoint="library.uploads",status="200"} 3.0' in photos
    assert 'darkroom_bytes_total{direction="uploaded"}' in photos
    assert "darkroom_code_to_album_seconds_count 1.0" in photos + scraped["maintenance"]
    assert 'darkroom_google_requests_total{endpoint="picker.sessions.get",status="200"}' in scraped["maintenance"]


def test_honcho_starts_the_procfile_locally(tmp_path, redis_url):
    """`honcho start` runs the long-running types (release runs once, before: `darkroom migrate`)."""
    processes = Stack(tmp_path, f"sqlite:///{tmp_path / 'darkroom.db'}", redis_url)
    try:
        processes.emulator(processes.emulator_port)
        processes.run("release", "darkroom migrate")
        processes.start("honcho", "honcho start web exchange photos maintenance")
        wait_for_health = f"{processes.web_url}/readyz"
        wait_http(wait_for_health)
        assert requests.get(wait_for_health).json()["ready"] is True
        deadline = time.monotonic() + 30
        kinds = ("exchange", "photos", "maintenance")
        while not all(_ready(processes.log("honcho").read_text(), kind) for kind in kinds):
            assert time.monotonic() < deadline, processes.log("honcho").read_text()[-2000:]
            time.sleep(0.5)
    finally:
        processes.stop_all()


def _ready(output: str, kind: str) -> bool:
    return any(
        line.startswith(f"{kind}.1") or f" {kind}.1 " in line
        for line in output.splitlines()
        if "ready for action" in line
    )


def test_stopping_a_stack_returns_once_every_process_it_started_is_gone(tmp_path, redis_url):
    """The next test's stack uses the same Redis database: a worker of this one still exiting (or left running,
    its master killed) would take that test's messages to a database gone by then. stop_all used to return when
    the shells it started had ended, while their dramatiq and uvicorn processes were still exiting."""
    database = tmp_path / "darkroom.db"
    stack = Stack(tmp_path, f"sqlite:///{database}", redis_url)
    try:
        stack.up("web", "maintenance")
        deadline = time.monotonic() + 30
        while "ready for action" not in stack.log("maintenance").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stack.stop_all()
    left = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and str(database).encode() in (entry / "environ").read_bytes():
                left.append((entry / "comm").read_text().strip())
    assert left == []
