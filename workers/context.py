"""What a process needs to do work: settings, database, vault, locks and rate limits, built once and lazily
(after dramatiq forks, each worker process opens its own connections).

Entry points (the actors module under the dramatiq CLI, the CLI, the app factory, the embedded server) build a
Context from their Settings and `set_context` it; actors read it with `get_context()`. Nothing here reads the
environment.
"""

from __future__ import annotations

import functools
import threading

from settings import Settings
from workers.queue import broker, messages
from workers.queue.governor import Governor
from workers.queue.locks import Locks
from workers.store.db import Database
from workers.store.health import Recorder
from workers.store.states import Channel
from workers.store.vault import Vault


class Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, frozenset(channels_of(settings)), _deliver, settings.data_timeout_s)

    @functools.cached_property
    def vault(self) -> Vault:
        return Vault(self.settings.token_key_bytes())

    @functools.cached_property
    def locks(self) -> Locks:
        return Locks(self.settings.redis_url, self.settings.data_timeout_s)

    @functools.cached_property
    def quota(self) -> Governor:
        return Governor(self.settings)

    @functools.cached_property
    def health(self) -> Recorder:
        """What Google said to the calls made for each user, tallied and written every few seconds."""
        return Recorder(self.db)


def channels_of(settings: Settings) -> list[Channel]:
    """The app hears back by webhook when a URL is set (with its secrets), by push when FCM is configured."""
    on = [Channel.WEBHOOK] if settings.webhook_target() else []
    return on + ([Channel.PUSH] if settings.fcm_service_account_file else [])


def _deliver(notification_ids: list[str]) -> None:
    if broker.is_set():  # a command without a broker leaves them to the sweeper
        for notification_id in notification_ids:
            messages.deliver_notification(notification_id)


_context: Context | None = None
_guard = threading.Lock()


def get_context() -> Context:
    with _guard:
        if _context is None:
            raise RuntimeError("no Context is set: an entry point calls workers.context.set_context first")
        return _context


def is_set() -> bool:
    return _context is not None


def set_context(context: Context | None) -> None:
    global _context
    with _guard:
        _context = context
