"""The actors: each body calls one use case. Importing this module declares them on the broker.

Run as `dramatiq workers.actors --queues Q`. Actor names are part of the wire format.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq.middleware.prometheus import Prometheus

from settings import get_settings
from workers import broker, exchange, fanout, logs, outcomes, processing, revocation, risc, sweeper
from workers.context import Context, get_context
from workers.errors import RateLimited

if broker._broker is None:  # the dramatiq CLI imports us first: this is an entry point
    broker.setup(get_settings()).add_middleware(Prometheus())  # serves /metrics on dramatiq_prom_port
    logs.configure(get_settings().log_format)

MINUTE_MS = 60_000
# One budget per queue. Codes expire: the exchange gives up fast. Photos and maintenance ride out outages.
EXCHANGE = {
    "queue_name": "exchange",
    "retry_when": broker.retry_policy(5),
    "min_backoff": 2000,
    "max_backoff": MINUTE_MS,
    "time_limit": MINUTE_MS,
}
MAINTENANCE = {
    "queue_name": "maintenance",
    "retry_when": broker.retry_policy(8),
    "min_backoff": 2000,
    "max_backoff": 5 * MINUTE_MS,
    "time_limit": 5 * MINUTE_MS,
}
PHOTOS = {
    "queue_name": "photos",
    "retry_when": broker.retry_policy(6),
    "min_backoff": 2000,
    "max_backoff": 10 * MINUTE_MS,
    "time_limit": 10 * MINUTE_MS,
}


def _run(use_case: Callable[[Context, str], object], object_id: str) -> None:
    ctx = get_context()
    try:
        use_case(ctx, object_id)
    except RateLimited as exc:
        # Google wants at least 30 s after a 429, or its Retry-After: wait that, not our backoff.
        delay_s = max(exc.delay_s or 0.0, ctx.settings.rate_limit_min_delay_s)
        raise dramatiq.Retry(str(exc), delay=int(delay_s * 1000)) from exc


def _on_submission_failure(args: tuple[object, ...], exc: BaseException | None) -> None:
    outcomes.submission_failed(get_context(), str(args[0]), exc)


def _on_item_failure(args: tuple[object, ...], exc: BaseException | None) -> None:
    outcomes.item_failed(get_context(), str(args[0]), exc)


@dramatiq.actor(
    **{**EXCHANGE, "retry_when": broker.retry_policy(3), "max_backoff": 10_000},
    max_age=get_settings().exchange_max_age_ms,
)
def exchange_code(submission_id: str) -> None:
    _run(exchange.exchange, submission_id)


@dramatiq.actor(**EXCHANGE)
def open_picker(submission_id: str) -> None:
    _run(fanout.open_picker, submission_id)


@dramatiq.actor(**MAINTENANCE)
def poll_picker(submission_id: str) -> None:
    _run(fanout.poll_picker, submission_id)


@dramatiq.actor(**MAINTENANCE)
def scan_inbox(submission_id: str) -> None:
    _run(fanout.scan_inbox, submission_id)


@dramatiq.actor(**PHOTOS)
def process_item(item_id: str) -> None:
    _run(processing.process, item_id)


@dramatiq.actor(**PHOTOS)
def create_items(sub: str) -> None:
    _run(processing.create, sub)


@dramatiq.actor(**EXCHANGE)
def revoke_user(sub: str) -> None:
    _run(revocation.revoke, sub)


@dramatiq.actor(**EXCHANGE)
def apply_security_event(jti: str) -> None:
    _run(risc.apply, jti)


def _sweep_once_per_interval() -> None:
    ctx = get_context()
    if ctx.locks.claim("sweep", ctx.settings.sweep_interval_s * 0.9):
        sweeper.sweep(ctx)


broker.periodic.task = _sweep_once_per_interval
broker.periodic.interval_s = get_settings().sweep_interval_s

for _name in ("exchange_code", "open_picker", "poll_picker", "scan_inbox"):
    broker.give_up.handlers[_name] = _on_submission_failure
broker.give_up.handlers["process_item"] = _on_item_failure
