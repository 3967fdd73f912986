"""`darkroom dead list | show ID | replay | purge [--queue Q] [--reason TEXT]`: dead letters in Redis."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from settings import Settings
from workers.errors import ConfigurationError, UsageError
from workers.queue.table import QUEUES


def dead(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations.report import dead_letter_reason
    from workers.queue import connection, deadletters

    if not settings.redis_url:
        raise ConfigurationError("dead letters live in Redis: set DARKROOM_REDIS_URL (the embedded broker keeps none)")
    client = connection.client(settings.redis_url)
    letters = deadletters.find(client, dead_letter_reason(Context(settings)), args.queue, args.reason)
    try:
        _ACTIONS[args.action](args, settings, client, letters)
    finally:
        client.close()
    return 0


def _show(args: argparse.Namespace, settings: Settings, client: Any, letters: list[Any]) -> None:
    letters = [d for d in letters if d.redis_id == args.id or d.message.get("message_id") == args.id]
    if not letters:
        raise UsageError(f"no dead letter {args.id}")
    print(json.dumps({**letters[0].summary(), "message": letters[0].message}, indent=2))


def _list(args: argparse.Namespace, settings: Settings, client: Any, letters: list[Any]) -> None:
    for letter in letters:
        s = letter.summary()
        at = datetime.datetime.fromtimestamp(s["failed_at_ms"] / 1000, datetime.UTC).isoformat(timespec="seconds")
        print(f"{s['id']}  {s['queue']:12s} {s['actor']}{tuple(s['args'])}  {at}  {s['reason']}")
    print(f"{len(letters)} dead letters")


def _replay(args: argparse.Namespace, settings: Settings, client: Any, letters: list[Any]) -> None:
    from workers.queue import broker, deadletters

    current = broker.setup(settings)
    for letter in letters:
        deadletters.replay(client, current, letter)
    print(f"replayed {len(letters)} dead letters")


def _purge(args: argparse.Namespace, settings: Settings, client: Any, letters: list[Any]) -> None:
    from workers.queue import deadletters

    for letter in letters:
        deadletters.remove(client, letter)
    print(f"purged {len(letters)} dead letters")


_ACTIONS = {"show": _show, "list": _list, "replay": _replay, "purge": _purge}


def register(sub: Any) -> None:
    command = sub.add_parser("dead", help="dead letters: list | show ID | replay | purge")
    command.add_argument("action", choices=tuple(_ACTIONS))
    command.add_argument("id", nargs="?", help="with show: the dead letter's id")
    command.add_argument("--queue", choices=QUEUES)
    command.add_argument("--reason", help="only those whose reason contains this text")
    command.set_defaults(run=dead)
