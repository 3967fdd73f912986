"""The web process's side of workers: its broker set up (unless the embedded server did) and its Context."""

from __future__ import annotations

from settings import Settings
from workers.context import Context
from workers.queue import broker


def start(settings: Settings, context: Context | None = None) -> Context:
    """The Context the web app works in: the one given (the embedded server's), or a new one on its own broker."""
    if not broker.is_set():
        broker.setup(settings)
    return context or Context(settings)
