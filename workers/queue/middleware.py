"""darkroom's dramatiq middleware, one job each: retry budgets from Settings, recording a give-up, the
periodic sweep, and warming each worker thread up. Imports no use case: a give-up handler arrives as the actor
option `on_give_up`, the warm-up as a callable."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from redis.exceptions import RedisError

from settings import Settings
from workers import metrics
from workers.errors import PermanentError, TransientError, Unavailable
from workers.queue import table

log = logging.getLogger(__name__)
GiveUpHandler = Callable[[tuple[Any, ...], BaseException | None], None]
# An outage of darkroom's own database or Redis spends no budget; this only ends a loop that never ends (at one
# try every 5 to 10 s, a day or more), for the sweeper to take up.
OUTAGE_RETRIES = 10_000


class OutageRetry(dramatiq.Retry):
    """Try again after `delay` ms: the work met darkroom's own database or Redis out of reach (errors.Outage)."""


def retry_policy(transient_budget: int) -> Callable[[int, BaseException], bool]:
    """Permanent: never. An outage of our own services: until it is over. Transient (and dramatiq.Retry): up to
    the budget. An unknown bug: once."""

    def should_retry(retries: int, exc: BaseException) -> bool:
        if isinstance(exc, OutageRetry):
            return retries < OUTAGE_RETRIES
        if isinstance(exc, PermanentError):
            return False
        if isinstance(exc, TransientError | dramatiq.Retry):
            return retries < transient_budget
        return retries < 1

    return should_retry


class Budgets(Middleware):
    """Give each actor, as it is declared, the queue's budget from the actor table and Settings, so dramatiq's
    default of 20 retries over about 30 days is never used and tests can shorten every wait."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def before_declare_actor(self, broker: Any, actor: Any) -> None:
        if actor.actor_name not in table.ACTORS:
            return  # not darkroom's (a test's probe): dramatiq's options as given
        spec = table.spec(actor.actor_name)
        min_backoff, max_backoff = spec.budget.backoff_ms(self.settings)
        actor.options.update(
            retry_when=retry_policy(spec.budget.transient_retries(self.settings)),
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            time_limit=spec.budget.time_limit_ms,
        )
        if spec.expires:
            actor.options["max_age"] = self.settings.exchange_max_age_ms


class WarmUp(Middleware):
    """Before a worker thread takes its first message, run `prepare` in it (connections, built services), so
    that what every thread needs once is not paid by the first user's photos, nor counted as theirs."""

    def __init__(self, prepare: Callable[[], None]) -> None:
        self.prepare = prepare

    def after_worker_thread_boot(self, broker: Any, thread: Any) -> None:
        try:
            self.prepare()
        except Exception:  # the first message pays for it instead, and reports what is wrong
            log.warning("warming a worker thread up failed", exc_info=True)


def consumes(worker: Any, queue: str) -> bool:
    """Whether a dramatiq worker takes messages from `queue`: its --queues name it, or it was given none (all)."""
    only = worker.consumer_whitelist
    return not only or queue in only


class AtBoot(Middleware):
    """Run `prepare` once when a worker that consumes `queue` boots (the photos worker sets its allocators)."""

    def __init__(self, queue: str, prepare: Callable[[], None]) -> None:
        self.queue, self.prepare = queue, prepare

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if consumes(worker, self.queue):
            self.prepare()


class GiveUp(Middleware):
    """When a message fails for good (retries spent, permanent error, too old), call its actor's `on_give_up`
    with the message's arguments and the exception, to record why in the database."""

    @property
    def actor_options(self) -> set[str]:
        return {"on_give_up"}

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        if exception is not None and message.failed:
            self._record(broker, message, exception)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        if message.failed:
            self._record(broker, message, None)

    def _record(self, broker: Any, message: Any, exception: BaseException | None) -> None:
        handler: GiveUpHandler | None = broker.get_actor(message.actor_name).options.get("on_give_up")
        if handler is None:
            return
        try:
            handler(tuple(message.args), exception)
        except Exception:
            log.exception("could not record the failure of message %s", message.message_id)


class ActorCPU(Middleware):
    """The CPU time of each message's worker thread, counted by actor (darkroom_actor_cpu_seconds_total): what a
    process spends outside it is dramatiq's own (fetching, acknowledging) and its idle polls."""

    def __init__(self) -> None:
        self._started = threading.local()

    def before_process_message(self, broker: Any, message: Any) -> None:
        self._started.at = time.thread_time()

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None, exception: Any = None) -> None:
        started = getattr(self._started, "at", None)
        if started is not None:
            self._started.at = None
            metrics.actor_ran(message.actor_name, time.thread_time() - started)

    after_skip_message = after_process_message


class Lane(Middleware):
    """A queue served by threads of its own: when a worker that consumes `beside` boots, a second worker in the
    same process consumes `queue` on `threads` threads, so that what is slow there (a webhook receiver that
    answers a byte at a time) never holds the threads of `beside` (the Picker's polls, the sweep)."""

    def __init__(self, queue: str, beside: str, threads: int) -> None:
        self.queue, self.beside, self.threads = queue, beside, threads
        self._worker: dramatiq.Worker | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if worker is self._worker or self._worker is not None or not consumes(worker, self.beside):
            return
        self._worker = dramatiq.Worker(
            broker, queues={self.queue}, worker_threads=self.threads, worker_timeout=worker.worker_timeout
        )
        self._worker.start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        lane, self._worker = self._worker, None
        if lane is not None and worker is not lane:
            lane.stop(timeout=10_000)


class Periodic(Middleware):
    """Every `interval_s`, each worker process that consumes the actor's queue sends one message to it (the
    sweep); the actor makes sure only one of those in the deployment does the work each time."""

    def __init__(self, interval_s: float, actor_name: str = "sweep") -> None:
        self.interval_s = interval_s
        self.spec = table.spec(actor_name)
        self._stop = threading.Event()

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if consumes(worker, self.spec.queue) and self.spec.name in broker.actors:
            self._stop.clear()
            threading.Thread(target=self._loop, args=(broker,), name="darkroom-periodic", daemon=True).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()

    def _loop(self, broker: Any) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                message: dramatiq.Message[None] = dramatiq.Message(
                    queue_name=self.spec.queue, actor_name=self.spec.name, args=(), kwargs={}, options={}
                )
                broker.enqueue(message)
            except Exception:
                log.exception("could not send the periodic %s; trying again in %.0f s", self.spec.name, self.interval_s)


class Redelivery(Middleware):
    """Every `interval_s`, each worker process runs the Redis broker's queue maintenance on every queue: the
    messages of a process not heard from for the heartbeat timeout (killed, frozen, cut off) go back to their
    queue for the living, seconds after, where dramatiq's 0.1 % chance per command takes minutes. The same calls
    are this process's heartbeat, whatever its threads are busy with.

    After Redis was out of reach, every process's heartbeat is old: maintenance waits one heartbeat timeout, so
    that the living have been heard from again before anyone is called dead."""

    def __init__(self, interval_s: float, heartbeat_timeout_s: float) -> None:
        self.interval_s, self.heartbeat_timeout_s = interval_s, heartbeat_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if self._thread is None and hasattr(broker, "redeliver"):
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, args=(broker,), name="darkroom-redelivery", daemon=True)
            self._thread.start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        self._thread = None

    def _loop(self, broker: Any) -> None:
        quiet_until = time.monotonic() + self.heartbeat_timeout_s  # peers may not have been heard from yet
        while True:
            queues = sorted(broker.get_declared_queues() | broker.delay_queues)
            try:
                for queue in queues:
                    broker.redeliver(queue, maintain=time.monotonic() >= quiet_until)
            except RedisError as exc:
                quiet_until = time.monotonic() + self.heartbeat_timeout_s
                log.warning("queue maintenance could not reach Redis (%s); trying again", type(exc).__name__)
            if self._stop.wait(self.interval_s):
                return


class HandBack(Middleware):
    """A dramatiq worker process that exits without finishing hands back what it holds. A platform's SIGTERM
    reaches each worker process twice (its own, and its master's), and dramatiq exits at the second at once
    (reference: dramatiq.md §1.4): its prefetched and running messages waited for the heartbeat timeout, the
    seconds a rolling deploy cost. dramatiq's worker processes are multiprocessing children, which exit without
    running atexit: a multiprocessing finalizer runs there. Elsewhere (the embedded default, tests) the process's
    own shutdown stops its worker gracefully, and nothing is registered."""

    def __init__(self) -> None:
        self._registered = False

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if self._registered or not hasattr(broker, "hand_back") or multiprocessing.parent_process() is None:
            return
        self._registered = True
        multiprocessing.util.Finalize(None, self._hand_back, args=(broker,), exitpriority=10)
        dramatiqs = signal.getsignal(signal.SIGTERM)
        if callable(dramatiqs) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._exit_once(dramatiqs))

    @staticmethod
    def _exit_once(dramatiqs: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        """dramatiq's SIGTERM handler, after which, from the second SIGTERM on (the one dramatiq exits at), the
        SIGTERMs still coming (the platform's and the master's forwarding of each: four in all) are ignored: one
        raising SystemExit again while the process exits cut the exit short, before this hand-back ran (one run
        in five of tests/workers/queue/test_handback.py)."""
        seen: list[int] = []

        def handler(signum: int, frame: Any) -> Any:
            if seen:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            seen.append(signum)
            return dramatiqs(signum, frame)

        return handler

    @staticmethod
    def _hand_back(broker: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # exiting: nothing may cut this short
        try:
            back = broker.hand_back()
        except RedisError as exc:  # the heartbeat timeout brings them back instead
            log.warning("could not hand back the messages held at exit (%s)", type(exc).__name__)
            return
        if back:
            log.warning("exiting before finishing: %d messages handed back to their queues", back)


class Watch(Middleware):
    """In the worker that consumes `queue` (the maintenance process), look at darkroom's own services every
    `interval_s`: `probe` reaches the database and Redis and returns what names Redis's memory (a key Redis keeps
    while it lives). When a probe fails and a later one succeeds, or Redis's memory is new (restarted without
    persistence, or flushed), messages may have been lost, including those sent while it lasted (a photo's turn
    handed on, a retry): `recover` is called with the wall-clock time the outage was seen to be over, and sends
    again whatever is unfinished and has not moved since (the database is the system of record). Work that is
    in a worker's hands at that moment may get a second message: every step checks the ledger first."""

    def __init__(
        self, queue: str, interval_s: float, probe: Callable[[], str], recover: Callable[[float], Any]
    ) -> None:
        self.queue, self.interval_s, self.probe, self.recover = queue, interval_s, probe, recover
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if self._thread is None and consumes(worker, self.queue):
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="darkroom-watch", daemon=True)
            self._thread.start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        self._thread = None

    def _loop(self) -> None:
        memory: str | None = None
        last_ok = time.time()
        down_since: float | None = None
        while not self._stop.wait(self.interval_s):
            try:
                seen = self.probe()
            except Unavailable as exc:
                if down_since is None:
                    down_since = last_ok
                    log.warning("darkroom's database or Redis is out of reach (%s)", exc)
                continue
            forgot = memory is not None and seen != memory
            if down_since is not None or forgot:
                since = time.time()
                what = "Redis forgot everything" if forgot else "an outage is over"
                try:
                    sent = self.recover(since)
                except Exception:
                    log.exception("%s; sending again what did not move failed, trying again", what)
                    continue  # memory and down_since stay: the next probe tries again
                log.warning(
                    "%s (it began %.0f s ago): sent again what was unfinished: %s",
                    what,
                    since - (down_since or last_ok),
                    sent,
                )
                down_since = None
            memory, last_ok = seen, time.time()
