"""Messages wake idle workers (workers/queue/broker.py), against real Redis: dramatiq's consumer slept up to its
timeout (1 s) between empty fetches, so each hop of an idle pipeline cost up to a second (issue #27). Now an
idle consumer waits on its queue's wake list, which every enqueue pushes to in the same round trip."""

from __future__ import annotations

import contextlib
import secrets
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis

from settings import Settings
from tests.support.cluster import OwnRedis
from tests.workers.queue.test_batched_redis import broker_for
from workers.queue import batched, broker
from workers.store.vault import new_key

IDLE_S = 1.1  # long enough for dramatiq's own consumer to sleep its longest (1 s) between fetches


@pytest.fixture
def redis_broker(unflushed_redis_url: str):
    with broker_for(Settings(_env_file=None, redis_url=unflushed_redis_url, token_keys=new_key())) as running:
        yield running


@contextlib.contextmanager
def working(on: dramatiq.Broker, threads: int = 1) -> Iterator[tuple[dramatiq.Actor, dict[int, float]]]:
    """An actor on a queue of its own (the test Redis is shared), and a worker with the shipped timeout (1 s):
    the actor and when each of its messages started, by argument."""
    queue = f"wake-{secrets.token_hex(4)}"
    started: dict[int, float] = {}

    def record(n: int) -> None:
        started[n] = time.monotonic()

    actor = dramatiq.actor(actor_name=f"record_{queue.replace('-', '_')}", queue_name=queue, broker=on)(record)
    worker = dramatiq.Worker(on, queues={queue}, worker_threads=threads, worker_timeout=1000)
    worker.start()
    try:
        yield actor, started
    finally:
        worker.stop()


def start_after(started: dict[int, float], n: int, sent: float, timeout_s: float = 5.0) -> float:
    deadline = time.monotonic() + timeout_s
    while n not in started:
        assert time.monotonic() < deadline, f"message {n} did not start within {timeout_s} s"
        time.sleep(0.001)
    return started[n] - sent


def waits_from_idle(actor: dramatiq.Actor, started: dict[int, float], sends: int, first: int = 0) -> list[float]:
    waits = []
    for n in range(first, first + sends):
        time.sleep(IDLE_S)
        sent = time.monotonic()
        actor.send(n)
        waits.append(start_after(started, n, sent))
    return waits


def test_a_message_to_an_idle_queue_starts_at_once(redis_broker):
    with working(redis_broker) as (actor, started):
        waits = waits_from_idle(actor, started, 3)
    assert statistics.median(waits) < 0.05 and max(waits) < 0.2, waits  # dramatiq's own: up to 1 s


def test_messages_enqueued_in_one_round_trip_wake_the_workers_too(redis_broker):
    """The ingest hot path's batched enqueue (workers.queue.batched): one wake-up per queue, for as many."""
    with working(redis_broker, threads=2) as (actor, started):
        time.sleep(IDLE_S)
        sent = time.monotonic()
        batched.enqueue_many([actor.message(n) for n in range(3)])
        waits = [start_after(started, n, sent) for n in range(3)]
    assert max(waits) < 0.2, waits


def test_a_delayed_message_starts_at_its_time_not_at_the_next_poll(redis_broker):
    """A Picker poll or a retry waits in the delay queue's consumer, which sent it on only when its wait for
    messages ended: up to a second late."""
    with working(redis_broker) as (actor, started):
        time.sleep(IDLE_S)
        lateness = []
        for n in range(3):
            sent = time.monotonic()
            actor.send_with_options(args=(n,), delay=300)
            lateness.append(start_after(started, n, sent) - 0.3)
            time.sleep(0.4)
    assert max(lateness) < 0.1, lateness


def test_the_wake_list_holds_a_few_tokens_and_expires(redis_broker, unflushed_redis_url):
    """Messages to a queue nobody consumes leave at most WAKE_TOKENS behind, and not for ever."""
    queue = f"nobody-{secrets.token_hex(4)}"
    redis_broker.declare_queue(queue)
    for _ in range(broker.WAKE_TOKENS + 5):
        redis_broker.enqueue(dramatiq.Message(queue_name=queue, actor_name="nobody", args=(), kwargs={}, options={}))
    client = redis.Redis.from_url(unflushed_redis_url)
    key = broker.Redis.wake_key(queue)
    assert client.llen(key) == broker.WAKE_TOKENS and 0 < client.pttl(key) <= 600_000
    redis_broker.flush(queue)
    client.delete(key)


def test_after_a_redis_restart_an_idle_queue_still_wakes(tmp_path: Path):
    """Redis restarted without persistence: the consumers reconnect (dramatiq restarts them) and wait on the
    new server's wake lists."""
    server = OwnRedis(tmp_path)
    server.start()
    try:
        settings = Settings(_env_file=None, redis_url=server.url(), token_keys=new_key())
        with broker_for(settings) as own, working(own) as (actor, started):
            waits_from_idle(actor, started, 1)
            server.stop()
            server.start()
            deadline, n = time.monotonic() + 30, 100
            while not any(k >= 100 for k in started):  # sent until one starts: the consumer is back
                assert time.monotonic() < deadline, "the worker did not come back after the restart"
                with contextlib.suppress(redis.RedisError):
                    actor.send(n)
                    n += 1
                time.sleep(0.2)
            waits = waits_from_idle(actor, started, 3, first=1000)
    finally:
        server.stop()
    assert statistics.median(waits) < 0.05 and max(waits) < 0.2, waits


def test_on_the_embedded_default_a_delayed_message_starts_at_its_time_too():
    """dramatiq's in-process broker wakes its consumers on a put already; its delay queues waited their whole
    timeout (1 s in `darkroom serve`) before sending a due message on."""
    with broker_for(Settings(_env_file=None, token_keys=new_key())) as stub, working(stub) as (actor, started):
        time.sleep(IDLE_S)
        sent = time.monotonic()
        actor.send(0)
        at_once = start_after(started, 0, sent)
        lateness = []
        for n in range(1, 4):
            sent = time.monotonic()
            actor.send_with_options(args=(n,), delay=300)
            lateness.append(start_after(started, n, sent) - 0.3)
    assert at_once < 0.05 and max(lateness) < 0.1, (at_once, lateness)
