"""`darkroom revoke` and `darkroom call`: what an operator does to, or as, one stored user."""

from __future__ import annotations

import argparse
import json
from typing import Any

from settings import Settings
from workers.errors import UsageError


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.grants import revocation

    if not revocation.revoke(Context(settings), args.user):
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
