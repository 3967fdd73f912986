"""`darkroom keys new | rotate`: token encryption keys."""

from __future__ import annotations

import argparse
from typing import Any

from settings import Settings


def new(args: argparse.Namespace, settings: Settings) -> int:
    from workers.store.vault import new_key

    print(new_key())
    return 0


def rotate(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.store.rotation import rotate as rotate_all

    ctx = Context(settings)
    done = rotate_all(ctx.db, ctx.vault)
    print(f"re-encrypted {done.secrets} secrets under the first key ({done.already_current} already were);")
    print("the other keys can now be removed from DARKROOM_TOKEN_KEYS")
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="token encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("new", help="print a new key for DARKROOM_TOKEN_KEYS").set_defaults(run=new)
    keys.add_parser("rotate", help="re-encrypt every secret under the first key").set_defaults(run=rotate)
