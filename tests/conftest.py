"""Shared fixtures: the emulator on a loopback port, real Redis and PostgreSQL, and darkroom settings that
point every Google URL at the emulator. A test that needs a service fails in CI when it is missing.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy

from emulator import server as emulator_server
from emulator.client import AdminClient
from settings import Settings
from tests.support.embedded import settings_for


def _database_of_this_worker(url: str) -> str:
    """Each pytest-xdist worker (gw0, gw1, ...) flushes a Redis database of its own: the base one plus its number."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db or 0) + int(worker.removeprefix('gw') or 0)}"


REDIS_URL = _database_of_this_worker(os.environ.get("DARKROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9"))
POSTGRES_URL = os.environ.get("DARKROOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def require(service: str, reason: str) -> None:
    """Missing service: a failure in CI, a skip on a developer machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{service} is required in CI and is not reachable: {reason}")
    pytest.skip(f"{service} not reachable: {reason}")


# Google names the poll interval; tests take the shortest darkroom accepts (500 ms), so no test waits on it.
POLL_INTERVAL_S = 0.5


@pytest.fixture
def emulator() -> Iterator[emulator_server.Running]:
    from workers.google.certs import CERTS

    running = emulator_server.start()
    # A new Google, with new keys, may listen where an earlier test's did: this process must not verify its ID
    # tokens with the keys it cached from that one (an unknown kid refetches at most every 5 s).
    CERTS.clear()
    running.google.lifetimes = dataclasses.replace(running.google.lifetimes, poll_interval_s=POLL_INTERVAL_S)
    yield running
    running.stop()


@pytest.fixture
def admin(emulator: emulator_server.Running) -> Iterator[AdminClient]:
    client = AdminClient(emulator.url)
    yield client
    client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        require("Redis", str(exc))
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def unflushed_redis_url() -> str:
    """A test Redis database no test flushes and no e2e stack uses: for a test that runs for seconds against Redis
    with keys of its own names (an xdist worker's `redis_url` would flush them mid-test)."""
    where = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    # Counted down from Redis's last database (15), as `redis_url`'s count up from the base one: "the one after
    # this worker's" was the next worker's `redis_url`, which flushed it, and whose e2e stacks shared it.
    db = 15 - int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    url = f"redis://{where.get('host', '127.0.0.1')}:{where.get('port', 6379)}/{db}"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        require("Redis", str(exc))
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema of its own in the test database, dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    except sqlalchemy.exc.OperationalError as exc:
        require("PostgreSQL", str(exc.orig))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'darkroom.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'darkroom.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(emulator: emulator_server.Running, sqlite_url: str) -> Settings:
    return settings_for(emulator.url, sqlite_url)
