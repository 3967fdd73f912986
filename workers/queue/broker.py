"""The broker: Redis when a URL is set, else dramatiq's in-process StubBroker (the embedded default).

One explicit global with a setter, as dramatiq has. Middleware is listed in full, so dramatiq's defaults
never apply; workers.queue.middleware.Budgets gives each actor its bounded budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.brokers.stub import StubBroker, _StubConsumer
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

from settings import Settings
from workers.queue.connection import ScriptCall, options, run_scripts
from workers.queue.middleware import ActorCPU, Budgets, GiveUp, HandBack, Lane, Periodic, Redelivery
from workers.queue.table import LANES, QUEUES

log = logging.getLogger(__name__)
_broker: dramatiq.Broker | None = None


# Each enqueue pushes a token to its queue's wake list (at most WAKE_TOKENS are kept); an idle consumer waits
# for one (BLPOP) instead of sleeping.
WAKE_PREFIX = "darkroom:wake:"
WAKE_TOKENS = 16
_WAKE = """
for _ = 1, math.min(tonumber(ARGV[1]), tonumber(ARGV[2])) do redis.call('LPUSH', KEYS[1], '1') end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[1], 600000)
return 1
"""
# A failed message as it failed (its traceback), over the copy its last enqueue stored, if it is still there.
_KEEP_FAILED = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""
REDIS_TIMEOUT_SLACK_S = 0.15  # how late Redis may end a BLPOP past its timeout (see Consumer._wait)
BUSY_S = 0.01  # a consumer whose prefetch is full looks again this soon (no Redis call: an ack frees a slot)
HAND_BACK_SETTLE_S = 0.05  # between the two passes of a hand-back: a fetch in flight lands


class Redis(RedisBroker):
    """dramatiq's Redis broker, with two changes.

    Messages wake idle workers: every enqueue (and every requeue) pushes a token to its queue's wake list in the
    same round trip, and an idle consumer (`Consumer`) waits on that list instead of sleeping. dramatiq's
    consumer sleeps up to its timeout (1 s) between empty fetches, so each hop of an idle pipeline cost up to a
    second (issue #27).

    Its queue maintenance (a dead process's messages back on their queue) runs on a clock
    (middleware.Redelivery) instead of on a 0.1 % chance per command: with a few idle workers that chance comes
    minutes apart (reference: dramatiq.md §1.3), and a user's photos waited that long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.wake_script = self.client.register_script(_WAKE)
        self.keep_failed_script = self.client.register_script(_KEEP_FAILED)
        self.handing_back = False

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return Consumer

    @staticmethod
    def wake_key(queue_name: str) -> str:
        return WAKE_PREFIX + queue_name

    def wake_call(self, key: str, n: int = 1) -> ScriptCall:
        return (self.wake_script, [key], [n, WAKE_TOKENS])

    def dispatch_call(self, command: str, queue_name: str, *args: Any, maintain: bool | None = None) -> ScriptCall:
        """dramatiq's dispatch script call for `command`, with the arguments dramatiq's own dispatch adds;
        `maintain` says whether it runs the queue's maintenance (else dramatiq's chance decides)."""
        maintenance = self._should_do_maintenance(command) if maintain is None else int(maintain)
        return (
            self.scripts["dispatch"],
            [self.namespace],
            [
                command,
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                maintenance,
                self._max_unpack_size(),  # type: ignore[no-untyped-call]
                *args,
            ],
        )

    def run(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Script calls in one round trip (workers.queue.batched records them here instead)."""
        return run_scripts(self.client, calls)

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        calls = [self.dispatch_call("enqueue", queue_name, message_id, data), self.wake_call(self.wake_key(queue_name))]
        return self.run(calls)[0]

    def do_requeue(self, queue_name: str, *message_ids: str) -> Any:
        """A stopping worker's prefetched messages, back on their queue: another worker takes them at once."""
        calls = [self.dispatch_call("requeue", queue_name, *message_ids), self.wake_call(self.wake_key(queue_name))]
        return self.run(calls)[0]

    def redeliver(self, queue_name: str, *, maintain: bool = True) -> None:
        """One dramatiq dispatch on `queue_name` that changes nothing but the caller's heartbeat and, if
        `maintain`, gives the unacknowledged messages of every process not heard from for the heartbeat
        timeout back to the queue (and drops dead letters past their time); an idle consumer is woken if
        messages wait."""
        dispatch, keys, args = self.dispatch_call("qsize", queue_name, maintain=maintain)
        waiting = dispatch(keys=keys, args=args)
        if waiting:
            self.run([self.wake_call(self.wake_key(queue_name))])

    def hand_back(self) -> int:
        """Every message this process holds unacknowledged, back on its queue for the living, waking them: for a
        process that exits without finishing (middleware.HandBack). The messages it still runs are run again
        elsewhere (each step checks its row first). How many went back."""
        self.handing_back = True  # this process's consumers fetch nothing more (one might take them again)
        back = 0
        for _ in range(2):  # again, for what a fetch in flight when the flag was set took meanwhile
            for queue_name in sorted(self.get_declared_queues() | self.delay_queues):
                held = self.client.smembers(f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}")
                if held:
                    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in held]
                    self.do_requeue(queue_name, *ids)
                    back += len(ids)
            time.sleep(HAND_BACK_SETTLE_S)
        return back


class Consumer(_RedisConsumer):
    """dramatiq's Redis consumer, woken by enqueue: when a fetch finds nothing it waits on the queue's wake list
    (BLPOP) for up to its timeout, or until the next delayed message it holds is due, rather than sleeping with
    a backoff. An idle consumer costs one fetch and one BLPOP per timeout; a message enqueued meanwhile starts
    within a round trip or two."""

    def __init__(self, broker: Redis, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.wake_key = broker.wake_key(queue_name)
        self.holder = threading.current_thread()  # dramatiq's ConsumerThread, which holds the delayed messages
        # A BLPOP outlasting the connection's socket timeout would look like a dead Redis.
        socket_timeout = broker.client.connection_pool.connection_kwargs.get("socket_timeout")
        self.longest_wait_s = min(timeout / 1000, socket_timeout / 2) if socket_timeout else timeout / 1000

    def __next__(self) -> Any:
        try:
            while self.message_cache:
                data = self.message_cache.pop(0)
                if data is not None:
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return dramatiq.MessageProxy(message)
            if self.outstanding_message_count >= self.prefetch or self.broker.handing_back:
                time.sleep(BUSY_S)
                return None
            self.message_cache = self.broker.do_fetch(self.queue_name, self.prefetch - self.outstanding_message_count)
            if not self.message_cache:
                self._wait()
            return None
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # dramatiq's consumer thread connects again
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def nack(self, message: Any) -> None:
        """To the dead letters, as it failed. dramatiq's nack moves the copy its last enqueue stored: a message
        that failed for good on its first try (a permanent error) lost the traceback dramatiq had just recorded,
        and `darkroom dead list` could say no more than "no reason recorded". Two round trips, in order (a
        pipeline would run the nack first when Redis has yet to learn the other script): a nack is rare."""
        bodies = f"{self.broker.namespace}:{self.queue_name}.msgs"
        keep: ScriptCall = (
            self.broker.keep_failed_script,
            [bodies],
            [message.options["redis_message_id"], message.encode()],
        )
        try:
            self.broker.run([keep])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.queued_message_ids.discard(message.message_id)  # as dramatiq's nack: no longer this consumer's
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        except redis.RedisError:  # the reason is lost, not the message: nacked as dramatiq would
            log.warning("could not keep the reason of failed message %s", message.message_id, exc_info=True)
        super().nack(message)  # type: ignore[no-untyped-call]

    def _wait(self) -> None:
        """For a token on the wake list, up to the longest wait or until the next delayed message is due. Redis
        ends a BLPOP that timed out only at its next event-loop tick (every 100 ms at its default `hz` of 10):
        short of a due message the wait ends that much early, and the rest is slept here to the millisecond."""
        wait_s = until_due_s(self.holder, self.longest_wait_s)
        if wait_s < self.longest_wait_s:  # a delayed message is due first
            if wait_s <= REDIS_TIMEOUT_SLACK_S:
                time.sleep(wait_s)
                return
            wait_s -= REDIS_TIMEOUT_SLACK_S
        if wait_s >= 0.01:  # BLPOP's 0 would wait for ever
            self.broker.client.blpop([self.wake_key], timeout=wait_s)


class Stub(StubBroker):
    """dramatiq's in-process broker (the embedded default), whose consumers already wake on a put; those of the
    delay queues wait no longer than their next delayed message."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 100) -> StubConsumer:
        super().consume(queue_name, prefetch, timeout)  # its checks (QueueNotFound)
        return StubConsumer(self.queues[queue_name], self.dead_letters_by_queue[queue_name], prefetch, timeout)


class StubConsumer(_StubConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.idle_timeout = self.timeout
        self.holder = threading.current_thread()

    def __next__(self) -> Any:
        self.timeout = max(1, int(until_due_s(self.holder, self.idle_timeout / 1000) * 1000))
        return super().__next__()  # type: ignore[no-untyped-call]


def until_due_s(holder: threading.Thread, timeout_s: float) -> float:
    """`timeout_s`, or less if a delayed message `holder` (dramatiq's ConsumerThread) holds is due sooner: dramatiq
    sends it on when the consumer's wait ends, so a wait past its eta would make it late (a Picker poll, a
    retry)."""
    delayed = getattr(holder, "delay_queue", None)
    try:
        first = delayed.queue[0] if delayed is not None else None  # a PriorityQueue's heap: the soonest first
    except IndexError:
        return timeout_s
    if first is None:
        return timeout_s
    return max(0.0, min(timeout_s, (float(first.priority) - current_millis()) / 1000))


def setup(settings: Settings, *, worker_metrics: bool = False) -> dramatiq.Broker:
    """A new broker for `settings`, set as the current one. Actors already declared move to it and take the
    new settings' budgets. `worker_metrics` serves dramatiq's Prometheus metrics (the Procfile's workers)."""
    # dramatiq calls after_* hooks in reverse order: GiveUp goes first so it runs after Retries has decided.
    middleware = [
        GiveUp(),
        Periodic(settings.sweep_interval_s),
        Redelivery(settings.redelivery_interval_s, settings.broker_heartbeat_timeout_s),
        HandBack(),
        *(Lane(queue, beside, settings.notify_threads) for queue, beside in LANES.items()),
        Budgets(settings),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=3, min_backoff=1000, max_backoff=600_000),  # for actors outside the table only
    ]
    if worker_metrics:
        from dramatiq.middleware.prometheus import Prometheus

        middleware += [Prometheus(), ActorCPU()]  # Prometheus serves /metrics on dramatiq_prom_port
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = Redis(
            url=settings.redis_url,
            middleware=middleware,
            heartbeat_timeout=int(settings.broker_heartbeat_timeout_s * 1000),
            maintenance_chance=0,  # Redelivery maintains every queue on its clock
            **options(settings.data_timeout_s),
        )
    else:
        broker = Stub(middleware=middleware)
    for queue in QUEUES:
        broker.declare_queue(queue)
    if _broker is not None:  # actors bind to a broker when declared: move them to the new one
        for actor in list(_broker.actors.values()):
            actor.broker = broker
            broker.declare_actor(actor)
    set_current(broker)
    return broker


def set_current(broker: dramatiq.Broker | None) -> None:
    """The setter: make `broker` the one messages go to (None: none until the next setup)."""
    global _broker
    _broker = broker
    if broker is not None:
        dramatiq.set_broker(broker)


def is_set() -> bool:
    return _broker is not None


def current() -> dramatiq.Broker:
    if _broker is None:
        raise RuntimeError("workers.queue.broker.setup(settings) must run before anything is enqueued")
    return _broker


def worker(threads: int, timeout_ms: int) -> dramatiq.Worker:
    """A worker on the current broker, in this process (the embedded default), for every queue but the lanes,
    which it starts on threads of their own (middleware.Lane); `timeout_ms` is how long each thread waits for a
    message before it looks for a stop."""
    queues = set(QUEUES) - set(LANES)
    return dramatiq.Worker(current(), queues=queues, worker_threads=threads, worker_timeout=timeout_ms)


def is_redis() -> bool:
    return isinstance(_broker, RedisBroker)


def redis_client() -> redis.Redis | None:
    """The broker's own Redis client (its pool of connections), or None on the embedded broker: for reading the
    queues (their depths, the dead letters) without a connection of one's own."""
    return _broker.client if isinstance(_broker, RedisBroker) else None
