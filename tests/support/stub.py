"""Use cases called directly, in the test's thread, against the emulator over HTTP and dramatiq's StubBroker:
nothing consumes the messages a use case sends, so a test reads them off the stub's queues and decides what
runs next. The fast layer of the pyramid: no worker threads, no web server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from emulator.client import AdminClient
from settings import Settings
from workers.context import Context, set_context
from workers.queue import broker, table
from workers.store import submissions
from workers.store.states import SourceKind


@dataclass
class Harness:
    ctx: Context
    stub: StubBroker

    def sent(self, actor_name: str) -> list[tuple[str, ...]]:
        """The arguments of every `actor_name` message sent and not yet taken, delayed ones included."""
        queue = table.spec(actor_name).queue
        found = []
        for name in (queue, f"{queue}.DQ"):
            for raw in list(self.stub.queues[name].queue):
                message = dramatiq.Message.decode(raw)
                if message.actor_name == actor_name:
                    found.append(tuple(message.args))
        return found

    def take(self, actor_name: str) -> list[tuple[str, ...]]:
        """`sent`, then forget every message on the stub: the test runs what it wants next itself."""
        found = self.sent(actor_name)
        self.stub.flush_all()
        return found


@contextlib.contextmanager
def harness(settings: Settings) -> Iterator[Harness]:
    previous = broker.current() if broker.is_set() else None
    ctx = Context(settings.model_copy(update={"redis_url": None}))
    ctx.db.migrate()
    set_context(ctx)
    stub = broker.setup(ctx.settings)
    assert isinstance(stub, StubBroker)
    try:
        yield Harness(ctx, stub)
    finally:
        broker.set_current(previous)
        set_context(None)
        ctx.health.flush(last=True)
        ctx.db.dispose()


def posted(
    h: Harness, admin: AdminClient, photos: int = 0, source: str = "picker", user: Any = None, **code_args: Any
) -> Posted:
    """A user (new, with `photos` photos, unless given) whose code was posted: recorded, not yet exchanged."""
    user = user or admin.add_user(photos=photos, width=64, height=48)
    code = admin.mint_code(user["sub"], **code_args)
    submission_id, _ = submissions.record(h.ctx.db, h.ctx.vault, code, SourceKind(source))
    return Posted(user, submission_id)


def exchanged(h: Harness, admin: AdminClient, photos: int = 0, source: str = "picker", user: Any = None) -> Posted:
    from workers.grants import exchange

    done = posted(h, admin, photos, source, user)
    exchange.exchange_code(h.ctx, done.submission_id)
    return done


def picked(h: Harness, admin: AdminClient, photos: int = 0, user: Any = None) -> tuple[Posted, list[str]]:
    """Exchanged, the picker opened and the user's photos all picked and fanned out: the items' ids."""
    from workers.photos import picker

    done = exchanged(h, admin, photos, user=user)
    picker.open_picker(h.ctx, done.submission_id)
    admin.pick(sub=done.sub)
    h.stub.flush_all()
    picker.poll_picker(h.ctx, done.submission_id)
    return done, [args[0] for args in h.take("process_item")]


@dataclass
class Posted:
    user: dict[str, Any]
    submission_id: str

    @property
    def sub(self) -> str:
        return str(self.user["sub"])
