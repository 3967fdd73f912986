"""Posted codes: recorded in the outbox (the submissions table) in batches, then their exchange enqueued.

Imports no Google library, no Pillow and no actor: the web process loads this room only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

from workers import metrics
from workers.context import Context
from workers.errors import TransientError, Unavailable
from workers.intake import limits
from workers.queue import batched, broker, messages
from workers.store import submissions
from workers.store.states import Platform, SourceKind

log = logging.getLogger(__name__)


class Post(NamedTuple):
    client: str  # the address the rate limit counts
    code: str
    source: SourceKind
    platform: Platform = Platform.IOS
    push_token: str | None = None  # the device's FCM registration token, sealed before it is stored


class Intake:
    """The ingest hot path of one web process, fed one batch of concurrent posts at a time (by
    ingest.batching.Batcher, from a single thread).

    A batch costs one Redis round trip and one database statement: the rate counts for this batch travel
    with the enqueue of the previous batch's new submissions. Their rows were committed before their posts
    were answered, so a message waits at most for the next batch, or for `flush` when no batch follows (the
    Batcher calls it when it runs out of posts). Should Redis fail in between, the sweeper sends them."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._unsent: list[str] = []

    def submit_many(self, posts: Sequence[Post]) -> list[str | None]:
        """Record each post whose client is within its rate limit (its code encrypted; the same code again is the
        same submission) and answer its submission id; None for the others: a flood must not flood the
        exchange queue. Raises TransientError when nothing was recorded (the database or Redis is
        down: the app says 503, and the client sends the code again)."""
        try:
            allowed = self._count_and_send([post.client for post in posts])
            accepted = [post for post, ok in zip(posts, allowed, strict=True) if ok]
            recorded = submissions.record_many(
                self._ctx.db, self._ctx.vault, [(p.code, p.source, p.platform, p.push_token) for p in accepted]
            )
        except TransientError as exc:
            raise Unavailable(f"could not record the codes: {exc}") from exc
        fresh = [submission_id for submission_id, created in recorded if created]
        self._unsent += fresh
        metrics.code_received(len(fresh))
        ids = iter(submission_id for submission_id, _ in recorded)
        return [next(ids) if ok else None for ok in allowed]

    def warm(self) -> None:
        """Open now what the first batch would open: the database pool's connection and, on Redis, the broker's
        connection with the scripts a batch runs loaded. A deploy's first users do not wait for them."""
        self._ctx.db.warm()
        limiter = limits.of(self._ctx)
        if limiter.in_redis and broker.is_redis():
            batched.enqueue_many([], also=[limiter.count_call([])])  # counts nobody

    def flush(self) -> None:
        """Enqueue what the last batch recorded; a failure is logged and left to the sweeper."""
        try:
            self._count_and_send([])
        except TransientError as exc:
            log.warning("%d new submissions not enqueued (%s): the sweeper sends them", len(self._unsent), exc)
            self._unsent = []

    def _count_and_send(self, clients: list[str]) -> list[bool]:
        limiter = limits.of(self._ctx)
        unsent = [messages.message("exchange_code", submission_id) for submission_id in self._unsent]
        if limiter.in_redis and broker.is_redis():
            count = [limiter.count_call(clients)] if clients else []
            replies = batched.enqueue_many(unsent, also=count)
            allowed = limiter.decide(replies[0]) if clients else []
        else:  # the embedded default: no Redis
            batched.enqueue_many(unsent)
            allowed = limiter.allow_many(clients)
        self._unsent = []
        return allowed
