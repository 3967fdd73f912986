"""The `darkroom` command. Each subcommand exits non-zero with a one-line reason when it fails."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from settings import ConfigurationError, get_settings
from workers import cli_operations, cli_reprocess, logs
from workers.errors import DarkroomError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def _demo(args: argparse.Namespace) -> int:
    from workers import demo

    return demo.run(Path(args.out))


def _serve(args: argparse.Namespace) -> int:
    from workers.embedded import Embedded

    port = args.port if args.port is not None else int(os.environ.get("PORT", "8000"))
    Embedded(get_settings(), host=args.host, port=port).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from workers.store.db import Database

    Database(get_settings().database_url).migrate()
    print("database schema is up to date")
    return 0


def _keys_new(args: argparse.Namespace) -> int:
    from workers.store.vault import new_key

    print(new_key())
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from workers import broker, sweeper
    from workers.context import Context

    settings = get_settings()
    if not settings.redis_url:
        raise ConfigurationError(
            "sweep sends work to the broker: set DARKROOM_REDIS_URL (the embedded server sweeps itself)"
        )
    broker.setup(settings)
    done = sweeper.sweep(Context(settings))
    print("nothing was stuck" if not done else "sent again: " + ", ".join(f"{n} {kind}" for kind, n in done.items()))
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from workers.context import Context
    from workers.store.rotation import rotate

    ctx = Context(get_settings())
    done = rotate(ctx.db, ctx.vault)
    print(f"re-encrypted {done.secrets} secrets under the first key ({done.already_current} already were);")
    print("the other keys can now be removed from DARKROOM_TOKEN_KEYS")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from workers import revocation
    from workers.context import Context

    if not revocation.revoke(Context(get_settings()), args.user):
        raise ConfigurationError(f"no grant is stored for user {args.user}")
    print(f"revoked at Google and deleted the tokens and personal data of user {args.user}")
    return 0


def _call(args: argparse.Namespace) -> int:
    import json

    from workers import acting
    from workers.context import Context

    params = dict(_name_value(p) for p in args.params)
    result = acting.call(Context(get_settings()), args.user, args.api, args.version, args.method, params)
    print(json.dumps(result, indent=2))
    return 0


def _name_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ConfigurationError(f"parameters are name=value, not {text!r}")
    return name, value


def _enhance(args: argparse.Namespace) -> int:
    import pipelines

    source, target = Path(args.input), Path(args.output)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        target.mkdir(parents=True, exist_ok=True)
        pairs = [(f, target / f"{f.stem}.jpg") for f in files]
    elif source.is_file():
        pairs = [(source, target)]
    else:
        raise ConfigurationError(f"{source} does not exist")
    failed = 0
    for n, (src, dst) in enumerate(pairs, 1):
        try:
            result = pipelines.enhance_bytes(src.read_bytes(), args.recipe)
        except pipelines.DecodeError as exc:
            failed += 1
            print(f"[{n}/{len(pairs)}] {src.name}: skipped ({exc})", file=sys.stderr)
            continue
        dst.write_bytes(result.data)
        ratio = len(result.data) / max(result.input_bytes, 1)
        print(f"[{n}/{len(pairs)}] {src.name} -> {dst} ({result.width}x{result.height}, size x{ratio:.2f})")
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="darkroom", description="Act for your app's users on Google Photos.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the whole flow offline, with a contact sheet")
    demo.add_argument("--out", default="demo-output")
    demo.set_defaults(run=_demo)
    serve = sub.add_parser("serve", help="web and workers in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(run=_serve)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(run=_migrate)
    sub.add_parser("sweep", help="re-enqueue stuck work once").set_defaults(run=_sweep)
    cli_operations.register(sub)
    cli_reprocess.register(sub)
    enhance = sub.add_parser("enhance", help="enhance a local file, or a directory into a directory")
    enhance.add_argument("input")
    enhance.add_argument("output")
    enhance.add_argument("--recipe", default="auto-v1")
    enhance.set_defaults(run=_enhance)
    keys = sub.add_parser("keys", help="token encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("new", help="print a new key for DARKROOM_TOKEN_KEYS").set_defaults(run=_keys_new)
    keys.add_parser("rotate", help="re-encrypt every secret under the first key").set_defaults(run=_keys_rotate)
    revoke = sub.add_parser("revoke", help="revoke a user at Google, then delete their tokens and personal data")
    revoke.add_argument("--user", required=True, metavar="SUB")
    revoke.set_defaults(run=_revoke)
    call = sub.add_parser("call", help="call any Google API as a stored user, e.g. drive v3 files.get fileId=appfolder")
    call.add_argument("--user", required=True, metavar="SUB")
    for name in ("api", "version", "method"):
        call.add_argument(name)
    call.add_argument("params", nargs="*", metavar="name=value")
    call.set_defaults(run=_call)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("DARKROOM_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command != "demo":  # the demo narrates to a person
        logs.configure(os.environ.get("DARKROOM_LOG_FORMAT", "json"))
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        code = run(args)
    except (ConfigurationError, ValueError, OSError, DarkroomError) as exc:
        print(f"darkroom: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # one line, as the contract says; the traceback is for the logs at debug level
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"darkroom: {exc.__class__.__name__}: {first}"[:300], file=sys.stderr)
        code = 1
    sys.exit(code)
