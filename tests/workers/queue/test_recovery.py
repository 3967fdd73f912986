"""Recovery by design (docs/faults.md), piece by piece against real Redis at the shipped settings: a dead
process's messages back on their queue at the next maintenance, a lock whose holder died free after its lease,
an outage that spends no retry budget, and the watch that sends again what an outage may have lost."""

from __future__ import annotations

import threading
import time

import dramatiq
import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from settings import Settings
from tests.workers.queue.test_batched_redis import broker_for
from workers import context
from workers.context import Context
from workers.errors import Outage, TransientError, Unavailable
from workers.queue import broker, connection, middleware
from workers.queue.locks import Locks
from workers.store.db import translated
from workers.store.vault import new_key


@pytest.fixture
def redis_broker(redis_url: str):
    with broker_for(Settings(_env_file=None, redis_url=redis_url, token_keys=new_key())) as running:
        yield running


def test_a_dead_process_s_messages_are_back_on_their_queue_at_the_next_maintenance(redis_broker, redis_url):
    client = redis.Redis.from_url(redis_url)
    ns, queue = redis_broker.namespace, "photos"
    # A process that fetched a message and was killed: its id in that process's acks set, its heartbeat old.
    client.hset(f"{ns}:{queue}.msgs", "m1", b'{"queue_name": "photos"}')
    client.sadd(f"{ns}:__acks__.dead-process.{queue}", "m1")
    beat = int(time.time() * 1000) - redis_broker.heartbeat_timeout - 1000
    client.zadd(f"{ns}:__heartbeats__", {"dead-process": beat})
    assert redis_broker.heartbeat_timeout == 15_000  # the shipped setting
    redis_broker.redeliver(queue, maintain=False)
    assert client.lrange(f"{ns}:{queue}", 0, -1) == []  # a heartbeat only: nothing moves
    redis_broker.redeliver(queue)
    assert client.lrange(f"{ns}:{queue}", 0, -1) == [b"m1"]
    assert not client.exists(f"{ns}:__acks__.dead-process.{queue}")


def test_a_living_process_s_messages_stay_with_it(redis_broker, redis_url):
    client = redis.Redis.from_url(redis_url)
    ns, queue = redis_broker.namespace, "photos"
    client.hset(f"{ns}:{queue}.msgs", "m2", b"{}")
    client.sadd(f"{ns}:__acks__.alive.{queue}", "m2")
    client.zadd(f"{ns}:__heartbeats__", {"alive": int(time.time() * 1000) - 10_000})  # 10 s: still alive
    redis_broker.redeliver(queue)
    assert client.lrange(f"{ns}:{queue}", 0, -1) == []


def test_every_worker_process_maintains_every_queue_on_a_clock(redis_broker):
    calls: list[tuple[str, bool]] = []
    seen = threading.Event()

    class Probe:
        delay_queues = frozenset({"photos.DQ"})

        def get_declared_queues(self) -> set[str]:
            return {"photos"}

        def redeliver(self, queue: str, *, maintain: bool = True) -> None:
            calls.append((queue, maintain))
            if maintain:
                seen.set()

    redelivery = middleware.Redelivery(interval_s=0.05, heartbeat_timeout_s=0.1)
    redelivery.after_worker_boot(Probe(), None)
    try:
        assert seen.wait(5)
    finally:
        redelivery.before_worker_shutdown(Probe(), None)
    assert {queue for queue, _ in calls} == {"photos", "photos.DQ"}
    assert calls[0][1] is False  # right after boot: peers may not have been heard from yet


def test_a_lock_whose_holder_died_is_free_after_its_lease_not_its_timeout(redis_url):
    locks = Locks(redis_url)
    client = redis.Redis.from_url(redis_url)
    # A holder killed mid-batch: its lock with the lease's TTL, nobody renewing it.
    client.set("darkroom:lock:create:u", "dead-holder", px=1500)
    started = time.monotonic()
    with locks.hold("create:u", timeout_s=120, lease_s=1.5):
        waited = time.monotonic() - started
    assert 0.5 < waited < 5


def test_a_living_holder_keeps_its_lock_past_the_lease(redis_url):
    locks = Locks(redis_url)
    with locks.hold("create:v", lease_s=0.6):
        time.sleep(1.5)  # past two leases: renewed meanwhile
        assert redis.Redis.from_url(redis_url).pttl("darkroom:lock:create:v") > 0
        with pytest.raises(Unavailable), Locks(redis_url).hold("create:v", timeout_s=0.3, lease_s=0.6):
            pass


def test_an_outage_of_our_own_services_is_retried_without_spending_the_budget():
    should_retry = middleware.retry_policy(transient_budget=3)
    outage = middleware.OutageRetry("the database is out of reach", delay=5000)
    assert should_retry(500, outage) and not should_retry(middleware.OUTAGE_RETRIES, outage)
    assert not should_retry(3, TransientError("google 503"))


def test_an_actor_that_meets_an_outage_comes_back_within_seconds():
    def down(ctx, object_id):
        raise Outage("the database is out of reach: OperationalError")

    assert 5_000 <= _retried_after_ms(down) <= 10_000  # the shipped outage_retry_s: 5 s, up to twice that


def _retried_after_ms(use_case) -> int:
    """The delay of the retry an actor's run makes of what `use_case` raised, at the shipped settings."""
    previous = context.get_context() if context.is_set() else None
    settings = Settings(_env_file=None, token_keys=new_key())
    context.set_context(Context(settings))
    try:
        with broker_for(settings):
            from workers import actors  # a broker first: imported alone, the module is a worker's entry point

            with pytest.raises(middleware.OutageRetry) as raised:
                actors.run("process_item", use_case, "item")
    finally:
        if previous is not None:
            context.set_context(previous)
    assert raised.value.delay is not None
    return raised.value.delay


def test_connection_errors_are_outages_and_other_errors_are_not():
    with pytest.raises(Outage), connection.translated("x"):
        raise RedisConnectionError("refused")
    with pytest.raises(Unavailable) as other, connection.translated("x"):
        raise redis.ResponseError("WRONGTYPE")
    assert not isinstance(other.value, Outage)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    with pytest.raises(Outage), translated():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    with pytest.raises(Unavailable) as bug, translated():
        raise ProgrammingError("SELECT nope", {}, Exception("syntax error"))
    assert not isinstance(bug.value, Outage)


def _watch(probe, recovered: list[float]) -> middleware.Watch:
    def recover(since: float) -> dict[str, int]:
        recovered.append(since)
        return {}

    watch = middleware.Watch("maintenance", 0.05, probe, recover)

    class Maintenance:
        consumer_whitelist = frozenset({"maintenance"})

    watch.after_worker_boot(None, Maintenance())
    return watch


def test_the_watch_sends_again_what_an_outage_may_have_lost_once_it_is_over():
    state = {"down": False}
    recovered: list[float] = []

    def probe() -> str:
        if state["down"]:
            raise Outage("Redis ConnectionError")
        return "memory-1"

    watch = _watch(probe, recovered)
    try:
        time.sleep(0.3)
        assert recovered == []  # all well: nothing sent again
        state["down"] = True
        time.sleep(0.3)
        assert recovered == []  # not while it lasts
        state["down"] = False
        back = time.time()
        deadline = time.monotonic() + 3
        while not recovered and time.monotonic() < deadline:
            time.sleep(0.02)
        # What is unfinished and did not move since the outage was seen to be over: all it may have lost.
        assert len(recovered) == 1 and back <= recovered[0] <= back + 1
        time.sleep(0.3)
        assert len(recovered) == 1
    finally:
        watch.before_worker_shutdown(None, None)


def test_the_watch_notices_a_redis_that_came_back_empty():
    memory = {"name": "first"}
    recovered: list[float] = []
    watch = _watch(lambda: memory["name"], recovered)
    try:
        time.sleep(0.2)
        memory["name"] = "second"  # a restart without persistence: the key Redis kept is new
        deadline = time.monotonic() + 3
        while not recovered and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(recovered) == 1
    finally:
        watch.before_worker_shutdown(None, None)


def test_redis_s_memory_is_the_same_until_it_forgets(redis_url):
    locks = Locks(redis_url)
    first = locks.memory()
    assert locks.memory() == first == Locks(redis_url).memory()
    redis.Redis.from_url(redis_url).flushdb()
    assert locks.memory() != first


def test_dramatiq_s_chance_maintenance_is_off(redis_broker):
    assert redis_broker.maintenance_chance == 0  # Redelivery runs it on its clock instead
    assert isinstance(dramatiq.get_broker(), broker.Redis)


def test_a_postgresql_out_of_reach_is_an_outage_on_the_hot_path_too():
    """The driver path (store/hotpath.py) takes connections from the pool raw, whose connect raises the
    driver's own error: a POST /v1/auth-codes answered 500 instead of 503 while PostgreSQL was down."""
    from workers.store import hotpath
    from workers.store.db import Database

    db = Database("postgresql+psycopg://postgres@127.0.0.1:9/nowhere", timeout_s=2)
    with pytest.raises(Outage), hotpath.pipelined(db):
        pass


def test_a_connection_that_died_with_its_server_is_tried_again_at_once():
    """After a PostgreSQL restart every pooled connection is dead: the first statement fails, SQLAlchemy lets
    go of the pool, and the next try reconnects. Waiting the outage's 5 to 10 s for it made a restart of under a
    second cost the photos in flight 11 s (the fault matrix)."""
    from sqlalchemy.exc import OperationalError

    with pytest.raises(Outage) as raised, translated():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)
    assert raised.value.reconnect

    def restarted(ctx, object_id):
        raise raised.value

    assert 500 <= _retried_after_ms(restarted) <= 1000


def test_the_hot_path_reconnects_at_once_after_a_postgresql_restart(tmp_path):
    """The driver path takes connections from the pool raw: after a restart, a dead one failed as a plain outage
    (5 to 10 s) and stayed in the pool. Now it leaves the pool and says so: the next try reconnects."""
    from tests.support.cluster import OwnPostgres
    from workers.store import hotpath
    from workers.store.db import Database

    server = OwnPostgres(tmp_path)
    try:
        server.start()
        server.create_database()
        db = Database(server.url())
        with hotpath.statement(db) as d:
            d.connection.execute("SELECT 1")
        server.restart()
        with pytest.raises(Outage) as raised, hotpath.statement(db) as d:
            d.connection.execute("SELECT 1")
        assert raised.value.reconnect
        with hotpath.statement(db) as d:  # at once: the dead connection is out of the pool
            assert d.connection.execute("SELECT 1").fetchone() == (1,)
        db.dispose()
    finally:
        server.remove()
