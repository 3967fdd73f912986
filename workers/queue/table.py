"""The actor table: every actor's name, queue and retry budget, defined once. The actors' decorators, the
enqueue API, dead letters, `darkroom status` and `darkroom dead` read it; tests/workers/queue checks they agree.

Actor names and queues are part of the wire format: messages already in Redis name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from settings import Settings

MINUTE_MS = 60_000


class Queue(StrEnum):
    EXCHANGE = "exchange"  # tiny and urgent: codes expire
    PHOTOS = "photos"  # CPU-bound Pillow
    MAINTENANCE = "maintenance"  # fan-out, polling, sweeping
    # the app's webhooks and pushes, on threads of their own beside maintenance's (middleware.Lane): a slow
    # receiver delays only notifications
    NOTIFY = "notify"


class Subject(StrEnum):
    """What an actor's id argument names: the row a give-up marks failed."""

    SUBMISSION = "submission"
    ITEM = "item"
    USER = "user"
    EVENT = "event"
    NOTIFICATION = "notification"
    NONE = "none"


@dataclass(frozen=True)
class Budget:
    """How often a transient failure is retried (Settings.retries may override it by `name`), the longest wait
    between two tries, and the longest one try may take."""

    name: str
    retries: int
    max_backoff_ms: int
    time_limit_ms: int

    def transient_retries(self, settings: Settings) -> int:
        return settings.retries.get(self.name, self.retries)

    def backoff_ms(self, settings: Settings) -> tuple[int, int]:
        ceiling = min(self.max_backoff_ms, settings.retry_max_backoff_ms)
        return min(settings.retry_min_backoff_ms, ceiling), ceiling


CODE = Budget("code", 3, 10_000, MINUTE_MS)
EXCHANGE = Budget("exchange", 5, MINUTE_MS, MINUTE_MS)
MAINTENANCE = Budget("maintenance", 8, 5 * MINUTE_MS, 5 * MINUTE_MS)
PHOTOS = Budget("photos", 6, 10 * MINUTE_MS, 10 * MINUTE_MS)
PERIODIC = Budget("periodic", 0, MINUTE_MS, 5 * MINUTE_MS)  # the next period tries again


@dataclass(frozen=True)
class ActorSpec:
    name: str
    queue: Queue
    subject: Subject
    budget: Budget
    expires: bool = False  # too old to be worth doing after Settings.exchange_max_age_ms


ACTORS: dict[str, ActorSpec] = {
    spec.name: spec
    for spec in (
        ActorSpec("exchange_code", Queue.EXCHANGE, Subject.SUBMISSION, CODE, expires=True),
        ActorSpec("open_picker", Queue.EXCHANGE, Subject.SUBMISSION, EXCHANGE),
        ActorSpec("poll_picker", Queue.MAINTENANCE, Subject.SUBMISSION, MAINTENANCE),
        ActorSpec("scan_inbox", Queue.MAINTENANCE, Subject.SUBMISSION, MAINTENANCE),
        ActorSpec("process_item", Queue.PHOTOS, Subject.ITEM, PHOTOS),
        ActorSpec("create_items", Queue.PHOTOS, Subject.USER, PHOTOS),
        ActorSpec("revoke_user", Queue.EXCHANGE, Subject.USER, EXCHANGE),
        ActorSpec("apply_security_event", Queue.EXCHANGE, Subject.EVENT, EXCHANGE),
        ActorSpec("sweep", Queue.MAINTENANCE, Subject.NONE, PERIODIC),
        # Its own schedule of retries (notify/delivery.py): dramatiq retries only a bug, once.
        ActorSpec("deliver_notification", Queue.NOTIFY, Subject.NOTIFICATION, PERIODIC),
    )
}
QUEUES: tuple[str, ...] = tuple(q.value for q in Queue)
# Each lane's queue, and the queue beside which it is served on threads of its own (middleware.Lane).
LANES: dict[str, str] = {Queue.NOTIFY: Queue.MAINTENANCE}


def spec(actor_name: str) -> ActorSpec:
    return ACTORS[actor_name]


def actors_about(subject: Subject) -> set[str]:
    return {name for name, s in ACTORS.items() if s.subject == subject}
