"""The broker: Redis when a URL is set, else dramatiq's in-process StubBroker (the embedded default).

One explicit global with a setter, as dramatiq has. Middleware is listed in full, so dramatiq's default
of 20 retries over about 30 days is never used; each actor names its own bounded budget.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Middleware, Pipelines, Retries, ShutdownNotifications, TimeLimit
from redis.exceptions import NoScriptError

from settings import Settings
from workers.errors import PermanentError, TransientError

log = logging.getLogger(__name__)
QUEUES = ("exchange", "photos", "maintenance")
GiveUpHandler = Callable[[tuple[Any, ...], BaseException | None], None]


def retry_policy(transient_budget: int) -> Callable[[int, BaseException], bool]:
    """Permanent: never. Transient (and dramatiq.Retry): up to the budget. An unknown bug: once."""

    def should_retry(retries: int, exc: BaseException) -> bool:
        if isinstance(exc, PermanentError):
            return False
        if isinstance(exc, TransientError | dramatiq.Retry):
            return retries < transient_budget
        return retries < 1

    return should_retry


class GiveUp(Middleware):
    """When a message fails for good (retries spent, permanent error, too old), record why in the DB."""

    def __init__(self) -> None:
        self.handlers: dict[str, GiveUpHandler] = {}

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        if exception is not None and message.failed:
            self._record(message, exception)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        if message.failed:
            self._record(message, None)

    def _record(self, message: Any, exception: BaseException | None) -> None:
        handler = self.handlers.get(message.actor_name)
        if handler is None:
            return
        try:
            handler(tuple(message.args), exception)
        except Exception:
            log.exception("could not record the failure of message %s", message.message_id)


class Periodic(Middleware):
    """Run `task` every `interval_s` seconds on a thread of each worker process; the task itself makes sure
    only one process in the deployment does the work each time (workers.locks.Locks.claim)."""

    def __init__(self) -> None:
        self.task: Callable[[], None] | None = None
        self.interval_s = 60.0
        self._stop = threading.Event()

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if self.task is not None:
            self._stop.clear()
            threading.Thread(target=self._loop, name="darkroom-periodic", daemon=True).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                assert self.task is not None
                self.task()
            except Exception:
                log.exception("periodic task failed; it runs again in %.0f s", self.interval_s)


_broker: dramatiq.Broker | None = None
give_up = GiveUp()
periodic = Periodic()


def setup(settings: Settings) -> dramatiq.Broker:
    global _broker
    # dramatiq calls after_* hooks in reverse order: GiveUp goes first so it runs after Retries has decided.
    middleware = [
        give_up,
        periodic,
        AgeLimit(),
        TimeLimit(time_limit=10 * 60 * 1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=3, min_backoff=1000, max_backoff=600_000),
    ]
    if settings.redis_url:
        broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, middleware=middleware)
    else:
        broker = StubBroker(middleware=middleware)
    for queue in QUEUES:
        broker.declare_queue(queue)
    if _broker is not None:  # actors bind to a broker when declared: move them to the new one
        for actor in list(_broker.actors.values()):
            actor.broker = broker
            broker.declare_actor(actor)
    dramatiq.set_broker(broker)
    _broker = broker
    return broker


def current() -> dramatiq.Broker:
    if _broker is None:
        raise RuntimeError("workers.broker.setup(settings) must run before anything is enqueued")
    return _broker


ScriptCall = tuple[Any, list[Any], list[Any]]  # a redis-py Script (for its sha and source), keys, args


def enqueue_many(messages: Sequence[dramatiq.Message], also: Sequence[ScriptCall] = ()) -> list[Any]:
    """Enqueue `messages` in one Redis round trip where dramatiq takes one each, with the script calls in
    `also` on the same pipeline (their replies are returned, in order).

    dramatiq's own RedisBroker.enqueue still prepares every message (its Redis id, the middleware hooks, the
    encoding, the dispatch arguments) on a shallow copy of the broker whose dispatch script only records the
    call. tests/workers/test_batched_redis.py holds this to what RedisBroker.enqueue writes and to what its
    workers consume, so a dramatiq upgrade that changes the protocol fails there."""
    broker = current()
    if not isinstance(broker, RedisBroker):
        if also:
            raise RuntimeError("script calls need the Redis broker")
        for message in messages:
            broker.enqueue(message)
        return []
    calls: list[ScriptCall] = []
    recorder = copy.copy(broker)
    dispatch = broker.scripts["dispatch"]
    recorder.scripts = {**broker.scripts, "dispatch": lambda keys, args: calls.append((dispatch, keys, args))}
    for message in messages:
        recorder.enqueue(message)
    return run_scripts(broker.client, [*calls, *also])[len(calls) :]


def run_scripts(client: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run script calls on one pipeline, in order. A script Redis has forgotten (it restarted) is loaded and
    only the calls that met NOSCRIPT run again: none of them ran, and the others must not run twice."""
    replies: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for i in todo:
            script, keys, args = calls[i]
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        forgotten = []
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, NoScriptError) and not attempt:
                forgotten.append(i)
            elif isinstance(result, Exception):
                raise result
            else:
                replies[i] = result
        if not forgotten:
            break
        for script in {id(calls[i][0]): calls[i][0] for i in forgotten}.values():
            client.script_load(script.script)
        todo = forgotten
    return replies
