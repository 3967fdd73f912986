"""`darkroom serve` (the embedded default: web and workers in one process) and `darkroom migrate`."""

from __future__ import annotations

import argparse
from typing import Any

from settings import Settings


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from workers.cli.embedded import Embedded

    Embedded(settings, host=args.host, port=settings.port if args.port is None else args.port).run()
    return 0


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from workers.store.db import Database

    Database(settings.database_url).migrate()
    print("database schema is up to date")
    return 0


def register(sub: Any) -> None:
    command = sub.add_parser("serve", help="web and workers in one process")
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=None, help="default: $PORT, else 8000")
    command.set_defaults(run=serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=migrate)
