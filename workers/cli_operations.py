"""Operator commands: status and dead letters (and, in cli_reprocess, batch reprocessing)."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from settings import ConfigurationError, Settings, get_settings


def _redis(settings: Settings) -> Any:
    import redis

    if not settings.redis_url:
        raise ConfigurationError("dead letters live in Redis: set DARKROOM_REDIS_URL (the embedded broker keeps none)")
    return redis.Redis.from_url(settings.redis_url)


def status(args: argparse.Namespace) -> int:
    from workers import status as report
    from workers.context import Context

    found = report.report(Context(get_settings()))
    if args.json:
        print(json.dumps(found, indent=2, default=str))
        return 0
    for queue, depth in found.get("queues", {}).items():
        print(
            f"queue {queue:12s} ready {depth['ready']:6d}  delayed {depth['delayed']:6d}  "
            f"in flight {depth['in_flight']:6d}  dead {depth['dead']:6d}"
        )
    if "broker" in found:
        print(f"broker: {found['broker']}")
    for kind in ("grants", "submissions", "items"):
        print(f"{kind:12s} " + (", ".join(f"{k} {v}" for k, v in sorted(found[kind].items())) or "none"))
    for failure in found["recent_failures"]:
        print(f"failed {failure['kind']} {failure['id']} at {failure['at']}: {failure['error']}: {failure['detail']}")
    return 0


def dead(args: argparse.Namespace) -> int:
    from workers import deadletters
    from workers.store.db import Database

    settings = get_settings()
    client = _redis(settings)
    letters = deadletters.find(client, Database(settings.database_url), args.queue, args.reason)
    if args.action == "show":
        letters = [d for d in letters if d.redis_id == args.id or d.message.get("message_id") == args.id]
        if not letters:
            raise ConfigurationError(f"no dead letter {args.id}")
        print(json.dumps({**letters[0].summary(), "message": letters[0].message}, indent=2))
    elif args.action == "list":
        for letter in letters:
            s = letter.summary()
            at = datetime.datetime.fromtimestamp(s["failed_at_ms"] / 1000, datetime.UTC).isoformat(timespec="seconds")
            print(f"{s['id']}  {s['queue']:12s} {s['actor']}{tuple(s['args'])}  {at}  {s['reason']}")
        print(f"{len(letters)} dead letters")
    elif args.action == "replay":
        from workers import broker

        current = broker.setup(settings)
        for letter in letters:
            deadletters.replay(client, current, letter)
        print(f"replayed {len(letters)} dead letters")
    else:
        for letter in letters:
            deadletters.remove(client, letter)
        print(f"purged {len(letters)} dead letters")
    client.close()
    return 0


def register(sub: Any) -> None:
    report = sub.add_parser("status", help="queues, grants, items and recent failures")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=status)
    letters = sub.add_parser("dead", help="dead letters: list | show ID | replay | purge")
    letters.add_argument("action", choices=("list", "show", "replay", "purge"))
    letters.add_argument("id", nargs="?", help="with show: the dead letter's id")
    letters.add_argument("--queue", choices=("exchange", "photos", "maintenance"))
    letters.add_argument("--reason", help="only those whose reason contains this text")
    letters.set_defaults(run=dead)
