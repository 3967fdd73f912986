"""The ingest hot path against real Redis: a rate count for many clients in one script call, many dramatiq
messages in one pipeline that dramatiq's own workers consume like any other, and a batch's messages sent with
the next batch's rate count."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
import redis

from settings import Settings
from workers.context import Context
from workers.errors import TransientError
from workers.intake.codes import Intake, Post
from workers.intake.limits import RateLimiter
from workers.queue import batched, broker, messages
from workers.store import submissions
from workers.store.vault import new_key


@pytest.mark.parametrize("where", ["redis", "in process"])
def test_each_occurrence_of_a_key_counts_in_order(redis_url, where):
    limiter = RateLimiter(redis_url if where == "redis" else None, per_minute=3)
    assert limiter.allow_many(["a", "b", "a", "a", "a"]) == [True, True, True, True, False]
    assert limiter.allow_many(["b", "b", "c"]) == [True, True, True]
    assert limiter.allow("b") is False and limiter.allow_many([]) == []


def test_rate_windows_expire_and_hold_no_client_address(redis_url):
    RateLimiter(redis_url, per_minute=3).allow_many(["203.0.113.9", "203.0.113.9"])
    client = redis.Redis.from_url(redis_url)
    [key] = client.keys("darkroom:rate:*")
    assert b"203.0.113" not in key and int(client.get(key)) == 2
    assert 60 <= client.ttl(key) <= 120  # set once, on the window's first hit


@contextlib.contextmanager
def broker_for(settings: Settings) -> Iterator[dramatiq.Broker]:
    """A broker of this test's own, and the one before it back afterwards."""
    previous = broker.current() if broker.is_set() else None
    try:
        yield broker.setup(settings)
    finally:
        broker.set_current(previous)


@pytest.fixture
def redis_broker(redis_url):
    with broker_for(Settings(_env_file=None, redis_url=redis_url, token_keys=new_key())) as redis_broker:
        yield redis_broker


def stored(client: redis.Redis, queue: str) -> list[dramatiq.Message]:
    ids = client.lrange(f"dramatiq:{queue}", 0, -1)
    return [dramatiq.Message.decode(client.hget(f"dramatiq:{queue}.msgs", i)) for i in ids]


def test_enqueue_many_writes_what_dramatiq_writes_one_by_one(redis_broker, redis_url):
    client = redis.Redis.from_url(redis_url)
    messages.exchange_code("a" * 32)  # dramatiq's own RedisBroker.enqueue
    one_by_one = {key: client.type(key) for key in client.keys("dramatiq:*")}
    batched.enqueue_many([messages.message("exchange_code", "b" * 32), messages.message("exchange_code", "c" * 32)])
    assert {key: client.type(key) for key in client.keys("dramatiq:*")} == one_by_one
    first, *together = stored(client, "exchange")
    assert [m.args for m in (first, *together)] == [("a" * 32,), ("b" * 32,), ("c" * 32,)]
    for message in together:
        assert (message.actor_name, message.queue_name, message.kwargs) == (first.actor_name, "exchange", {})
        assert set(message.options) == set(first.options) == {"redis_message_id"}
    assert client.lrange("dramatiq:exchange", 0, -1) == [
        m.options["redis_message_id"].encode() for m in stored(client, "exchange")
    ]


def test_messages_enqueued_together_are_consumed_by_a_worker_even_after_redis_forgot_the_script(
    redis_broker, redis_url
):
    seen: list[str] = []
    done = threading.Event()

    def probe(submission_id: str) -> None:
        seen.append(submission_id)
        if len(seen) == 6:
            done.set()

    dramatiq.actor(probe, broker=redis_broker, queue_name="probe", actor_name="probe")  # type: ignore[call-overload]
    batch: list[dramatiq.Message[None]] = [
        dramatiq.Message(queue_name="probe", actor_name="probe", args=(str(n),), kwargs={}, options={})
        for n in range(3)
    ]
    batched.enqueue_many(batch)
    redis.Redis.from_url(redis_url).script_flush()  # as after a Redis restart
    batched.enqueue_many([m.copy(args=(str(n + 3),)) for n, m in enumerate(batch)])
    worker = dramatiq.Worker(redis_broker, queues={"probe"}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        assert done.wait(20), seen
    finally:
        worker.stop()
    assert sorted(seen) == [str(n) for n in range(6)]
    time.sleep(0.1)
    assert len(seen) == 6  # each once


def migrated(settings: Settings) -> Context:
    ctx = Context(settings)
    ctx.db.migrate()
    return ctx


@pytest.fixture
def intake_on_redis(redis_url, sqlite_url):
    settings = Settings(
        _env_file=None, redis_url=redis_url, database_url=sqlite_url, token_keys=new_key(), rate_limit_per_minute=2
    )
    with broker_for(settings):
        ctx = migrated(settings)
        yield ctx, Intake(ctx), redis.Redis.from_url(redis_url)
        ctx.db.dispose()


def test_a_batch_is_enqueued_with_the_next_batchs_rate_count_or_on_flush(intake_on_redis):
    ctx, hot_path, client = intake_on_redis
    first = hot_path.submit_many([Post("198.51.100.1", "4/0Acode-one", "picker")])
    assert client.llen("dramatiq:exchange") == 0 and submissions.get(ctx.db, first[0]).status == "queued"
    second = hot_path.submit_many([Post("198.51.100.2", "4/0Acode-two", "picker")])
    assert [m.args for m in stored(client, "exchange")] == [(first[0],)]
    hot_path.flush()
    assert [m.args for m in stored(client, "exchange")] == [(first[0],), (second[0],)]
    hot_path.flush()  # nothing left: nothing sent twice
    assert client.llen("dramatiq:exchange") == 2


def test_posts_over_the_rate_limit_are_neither_recorded_nor_enqueued(intake_on_redis):
    ctx, hot_path, client = intake_on_redis
    posts = [Post("203.0.113.5", f"4/0Aflood-{n}", "picker") for n in range(5)] + [Post("192.0.2.1", "4/0Aok", "inbox")]
    results = hot_path.submit_many(posts)
    assert [r is not None for r in results] == [True, True, False, False, False, True]
    hot_path.flush()
    assert sorted(m.args[0] for m in stored(client, "exchange")) == sorted(r for r in results if r)
    with ctx.db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM submissions").scalar() == 3


def test_redis_down_is_a_transient_error_and_records_nothing(sqlite_url):
    settings = Settings(
        _env_file=None, redis_url="redis://127.0.0.1:1/0", database_url=sqlite_url, token_keys=new_key()
    )
    with broker_for(settings):
        ctx = migrated(settings)
        with pytest.raises(TransientError, match="could not record"):
            Intake(ctx).submit_many([Post("192.0.2.1", "4/0Anever-stored", "picker")])
        with ctx.db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM submissions").scalar() == 0
