"""The actors: the wire format (names and queues from workers.queue.table), each body one use case.

Every actor takes one id (a submission, an item, a user or an event) and runs its use case with it.

Run as `dramatiq workers.actors --queues Q`: importing this module is then the worker process's entry point,
so it sets up the broker, the context and logging from the environment; anywhere else (the embedded server,
tests) whoever imported it has set them up first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import dramatiq

import pipelines
from settings import get_settings
from workers import logs
from workers.context import Context, get_context, is_set, set_context
from workers.errors import GoogleWait, Outage, QuotaWait, RateLimited
from workers.google import photos as google_photos
from workers.grants import exchange, revocation, risc
from workers.notify import outbox
from workers.operations import sweeper
from workers.photos import batches, completion, inbox, picker, upload
from workers.queue import broker, messages, middleware, table

log = logging.getLogger(__name__)


def _prepare_thread() -> None:
    ctx = get_context()
    ctx.db.warm()
    google_photos.prepare_thread(ctx.settings)


def _probe() -> str:
    """The database answers, and what names Redis's memory (middleware.Watch)."""
    ctx = get_context()
    ctx.db.warm()
    return ctx.locks.memory()


def _recover(since_epoch_s: float) -> dict[str, int]:
    return sweeper.recover(get_context(), since_epoch_s)


if not broker.is_set():  # the dramatiq CLI imports us first: this is an entry point
    get_settings().client_credentials()  # refuse to start without the web client: every code would fail
    running = broker.setup(get_settings(), worker_metrics=True)
    running.add_middleware(middleware.WarmUp(_prepare_thread))
    running.add_middleware(middleware.AtBoot(table.Queue.PHOTOS, pipelines.tune_process))
    running.add_middleware(middleware.Watch(table.Queue.MAINTENANCE, get_settings().watch_interval_s, _probe, _recover))
    logs.configure(get_settings())
if not is_set():
    set_context(Context(get_settings()))


UseCase = Callable[[Context, str], object]
RECONNECT_S = 0.5  # a dead pooled connection after a database restart: the pool reconnects on the next try


def run(name: str, use_case: UseCase, object_id: str) -> None:
    """Run an actor's use case; a wait for Google, a 429 or an outage of our own services becomes its retry."""
    ctx = get_context()
    try:
        use_case(ctx, object_id)
    except GoogleWait as exc:
        # Google's quota, or the user's refresh cooling down: the work waits, failing nothing and spending no
        # retry. While a day's quota is spent it comes back each probe interval (spread out), when one of them
        # may probe; a slow-down (at least what Google asks after a 429) and a cool-down are waited out.
        wait_s = exc.delay_s or 0.0
        if exc.daily:
            wait_s = min(wait_s, ctx.settings.quota_probe_interval_s * random.uniform(1.0, 1.5))
        elif isinstance(exc, QuotaWait):
            wait_s = max(wait_s, ctx.settings.rate_limit_min_delay_s)
        wait_s *= random.uniform(1.0, 1.25)  # spread out: the waiting messages must not all come back at once
        # One waiting message per piece of work: a copy (the sweeper's, a redelivery's) that finds one is dropped.
        if ctx.locks.claim(f"waiting:{name}:{object_id}", wait_s * 0.9):
            messages.send(name, object_id, delay_ms=int(wait_s * 1000))
            log.info("waits %.0f s for Google: %s", wait_s, exc, extra={"actor": name})
    except Outage as exc:
        # Our own database or Redis is out of reach: try again in a few seconds, spending no budget, so the work
        # goes on within seconds of the outage's end, however long it lasted (docs/faults.md).
        delay_s = (RECONNECT_S if exc.reconnect else ctx.settings.outage_retry_s) * random.uniform(1.0, 2.0)
        raise middleware.OutageRetry(str(exc), delay=int(delay_s * 1000)) from exc
    except RateLimited as exc:
        # Google wants at least 30 s after a 429, or its Retry-After: wait that, not our backoff.
        delay_s = max(exc.delay_s or 0.0, ctx.settings.rate_limit_min_delay_s)
        raise dramatiq.Retry(str(exc), delay=int(delay_s * 1000)) from exc


def _submission_failed(args: tuple[Any, ...], exc: BaseException | None) -> None:
    completion.submission_failed(get_context(), str(args[0]), exc)


def _item_failed(args: tuple[Any, ...], exc: BaseException | None) -> None:
    completion.item_failed(get_context(), str(args[0]), exc)


# Each actor's use case, and what a give-up of it marks failed. Names and queues: workers.queue.table.
USE_CASES: dict[str, tuple[UseCase, Callable[[tuple[Any, ...], BaseException | None], None] | None]] = {
    "exchange_code": (exchange.exchange_code, _submission_failed),
    "open_picker": (picker.open_picker, _submission_failed),
    "poll_picker": (picker.poll_picker, _submission_failed),
    "scan_inbox": (inbox.scan_inbox, _submission_failed),
    "process_item": (upload.process_item, _item_failed),
    "create_items": (batches.create_items, None),
    "revoke_user": (revocation.revoke_user, None),
    "apply_security_event": (risc.apply_security_event, None),
    "sweep": (sweeper.periodic_sweep, None),
    "deliver_notification": (outbox.deliver_notification, None),
}


def _declare(name: str) -> Any:
    use_case, on_give_up = USE_CASES[name]

    def body(object_id: str = "") -> None:
        run(name, use_case, object_id)

    body.__name__ = body.__qualname__ = name
    options: dict[str, Any] = {"on_give_up": on_give_up} if on_give_up else {}
    return dramatiq.actor(actor_name=name, queue_name=table.spec(name).queue, **options)(body)


ACTORS = {name: _declare(name) for name in USE_CASES}
