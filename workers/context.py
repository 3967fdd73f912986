"""What a process needs to do work: settings, database, vault and locks, built once and lazily.

Entry points (actors module, CLI, app factory) call `get_context()`; tests and the embedded mode call
`set_context(Context(settings))` first.
"""

from __future__ import annotations

import functools
import threading

from settings import Settings, get_settings
from workers.limits import RateLimiter
from workers.locks import Locks
from workers.store.db import Database
from workers.store.vault import Vault


class Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)

    @functools.cached_property
    def vault(self) -> Vault:
        return Vault(self.settings.token_key_bytes())

    @functools.cached_property
    def locks(self) -> Locks:
        return Locks(self.settings.redis_url)

    @functools.cached_property
    def ingest_limit(self) -> RateLimiter:
        return RateLimiter(self.settings.redis_url, self.settings.rate_limit_per_minute)


_context: Context | None = None
_guard = threading.Lock()


def get_context() -> Context:
    global _context
    with _guard:
        if _context is None:
            _context = Context(get_settings())
        return _context


def set_context(context: Context | None) -> None:
    global _context
    with _guard:
        _context = context
