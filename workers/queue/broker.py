"""The broker: Redis when a URL is set, else dramatiq's in-process StubBroker (the embedded default).

One explicit global with a setter, as dramatiq has. Middleware is listed in full, so dramatiq's defaults
never apply; workers.queue.middleware.Budgets gives each actor its bounded budget.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

from settings import Settings
from workers.queue.connection import options
from workers.queue.middleware import ActorCPU, Budgets, GiveUp, Lane, Periodic, Redelivery
from workers.queue.table import LANES, QUEUES

_broker: dramatiq.Broker | None = None


class Redis(RedisBroker):
    """dramatiq's Redis broker, whose queue maintenance (a dead process's messages back on their queue) darkroom
    runs on a clock (middleware.Redelivery) instead of on a 0.1 % chance per command: with a few idle workers
    that chance comes minutes apart (reference: dramatiq.md §1.3), and a user's photos waited that long."""

    def redeliver(self, queue_name: str, *, maintain: bool = True) -> None:
        """One dramatiq dispatch on `queue_name` that changes nothing but the caller's heartbeat and, if
        `maintain`, gives the unacknowledged messages of every process not heard from for the heartbeat
        timeout back to the queue (and drops dead letters past their time)."""
        self.scripts["dispatch"](
            args=[
                "qsize",
                int(time.time() * 1000),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                int(maintain),
                self._max_unpack_size(),  # type: ignore[no-untyped-call]
            ],
            keys=[self.namespace],
        )


def setup(settings: Settings, *, worker_metrics: bool = False) -> dramatiq.Broker:
    """A new broker for `settings`, set as the current one. Actors already declared move to it and take the
    new settings' budgets. `worker_metrics` serves dramatiq's Prometheus metrics (the Procfile's workers)."""
    # dramatiq calls after_* hooks in reverse order: GiveUp goes first so it runs after Retries has decided.
    middleware = [
        GiveUp(),
        Periodic(settings.sweep_interval_s),
        Redelivery(settings.redelivery_interval_s, settings.broker_heartbeat_timeout_s),
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
        broker = Redis(  # type: ignore[no-untyped-call]
            url=settings.redis_url,
            middleware=middleware,
            heartbeat_timeout=int(settings.broker_heartbeat_timeout_s * 1000),
            maintenance_chance=0,  # Redelivery maintains every queue on its clock
            **options(settings.data_timeout_s),
        )
    else:
        broker = StubBroker(middleware=middleware)
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
