"""Dead letters keep why their message died, against real Redis and a real dramatiq worker. dramatiq's nack moves
the message as it was last enqueued: a message that failed for good on its first try (a permanent error, a
transient one past a budget of none) reached the dead letters without the traceback dramatiq had just recorded,
and `darkroom dead list` could only say "no reason recorded"."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis

from settings import Settings
from tests.support.cluster import OwnRedis
from tests.workers.queue.test_batched_redis import broker_for
from workers.errors import CodeRejected
from workers.queue import deadletters
from workers.store.vault import new_key


def never(retries: int, exc: BaseException) -> bool:
    return False


@pytest.fixture
def new_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own, which has yet to learn any script (as after a restart)."""
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


def test_a_message_that_fails_on_its_first_try_keeps_its_reason(new_redis):
    queue = f"dead-{secrets.token_hex(4)}"
    client = redis.Redis.from_url(new_redis)
    settings = Settings(_env_file=None, redis_url=new_redis, token_keys=new_key())
    with broker_for(settings) as running:

        def refuse(n: int) -> None:
            raise CodeRejected(f"token endpoint: invalid_grant ({n})")

        actor = dramatiq.actor(
            actor_name=f"refuse_{queue.replace('-', '_')}", queue_name=queue, broker=running, retry_when=never
        )(refuse)
        worker = dramatiq.Worker(running, queues={queue}, worker_threads=1, worker_timeout=1000)
        worker.start()
        try:
            actor.send(7)
            deadline = time.monotonic() + 10
            while not (letters := deadletters.find(client, queue=queue)):
                assert time.monotonic() < deadline, "the message never reached the dead letters"
                time.sleep(0.02)
        finally:
            worker.stop()
    [letter] = letters  # and the nack ran after the script that keeps the reason, though Redis learnt it first
    assert letter.reason == "workers.errors.CodeRejected: token endpoint: invalid_grant (7)"
    assert letter.message["args"] == [7] and letter.message["options"]["retries"] == 1
