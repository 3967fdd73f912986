"""`darkroom users list | show SUB`, `darkroom revoke` and `darkroom call`: what an operator reads of, does to,
or does as one stored user. Never a token."""

from __future__ import annotations

import argparse
import json
from typing import Any

from settings import Settings
from workers.errors import UsageError

HEALTH = ("healthy", "degraded", "failing")  # workers.store.health.STATES, named without importing the store


def list_users(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.store import reports

    found = reports.users(Context(settings).db, after=args.after, limit=args.limit, health_state=args.health)
    shown, last = 0, None
    if args.json:  # a JSON array written as it is read
        print("[", end="")
        for shown, user in enumerate(found, 1):
            print(("," if shown > 1 else "") + "\n  " + json.dumps(user), end="")
        print("\n]")
        return 0
    for user in found:
        refreshed, sick = user["last_refresh_at"] or "never", user["health"]
        line = f"{user['sub']:24s} {user['state']:18s} {sick['state']:9s} refreshed {refreshed:20s}"
        line += f" {len(user['scopes'])} scopes"
        if sick["last_error"]:
            line += f"  last error {sick['last_error_at']}: {sick['last_error']}"
        print(line)
        shown, last = shown + 1, user["sub"]
    more = f"; the next page: --after {last}" if args.limit and shown == args.limit else ""
    print(f"{shown} users{more}")
    return 0


def show_user(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.store import reports

    found = reports.user(Context(settings).db, args.sub)
    if found is None:
        raise UsageError(f"no grant is stored for user {args.sub}")
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for name in ("sub", "state", "email", "last_refresh_at", "refresh_used_at", "refresh_expires_at", "created_at"):
        print(f"{name:16s} {found[name]}")
    sick = found["health"]
    print(
        f"{'health':16s} {sick['state']} (24 h): refreshes {sick['refreshes']['ok']} ok, "
        f"{sick['refreshes']['failed']} failed; calls {sick['calls']['ok']} ok, {sick['calls']['failed']} failed"
    )
    if sick["last_error"]:
        print(f"{'last error':16s} {sick['last_error_at']}: {sick['last_error']}")
    print(f"{'scopes':16s} " + " ".join(found["scopes"]))
    print(f"{'items':16s} " + ", ".join(f"{k} {v}" for k, v in sorted(found["counts"].items())))
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.grants import revocation
    from workers.queue import broker

    if settings.redis_url:  # the app is told at once; without Redis the embedded server's sweeper tells it
        broker.setup(settings)
    if not revocation.revoke_user(Context(settings), args.user):
        raise UsageError(f"no grant is stored for user {args.user}")
    print(f"revoked at Google and deleted the tokens and personal data of user {args.user}")
    return 0


def call(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.grants import acting

    params = dict(_name_value(p) for p in args.params)
    result = acting.call(Context(settings), args.user, args.api, args.version, args.method, params)
    print(json.dumps(result, indent=2))
    return 0


def _name_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"parameters are name=value, not {text!r}")
    return name, value


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="stored grants: state, health, scopes, last refresh; never a token")
    which = users.add_subparsers(dest="users_command", required=True)
    listing = which.add_parser("list", help="stored users by sub, read a page at a time")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, help="at most this many")
    listing.add_argument("--after", metavar="SUB", help="those after this sub (the last one of the page before)")
    listing.add_argument(
        "--health", choices=HEALTH, help="only grants in this health over the last 24 h (failing: nothing succeeded)"
    )
    listing.set_defaults(run=list_users)
    showing = which.add_parser("show", help="one user, with the counts of their items")
    showing.add_argument("sub", metavar="SUB")
    showing.add_argument("--json", action="store_true")
    showing.set_defaults(run=show_user)
    command = sub.add_parser("revoke", help="revoke a user at Google, then delete their tokens and personal data")
    command.add_argument("--user", required=True, metavar="SUB")
    command.set_defaults(run=revoke)
    command = sub.add_parser(
        "call", help="call any Google API as a stored user, e.g. drive v3 files.get fileId=appfolder"
    )
    command.add_argument("--user", required=True, metavar="SUB")
    for name in ("api", "version", "method"):
        command.add_argument(name)
    command.add_argument("params", nargs="*", metavar="name=value")
    command.set_defaults(run=call)
