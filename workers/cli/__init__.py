"""The `darkroom` command: one module per command group, each registering its subcommands. An entry point:
it reads the Settings once and hands them to the command. Each command exits non-zero with a one-line reason
when it fails."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from settings import Settings, get_settings
from workers import logs
from workers.cli import dead, demo, enhance, keys, operations, reprocess, risc, serve, users
from workers.errors import DarkroomError

Command = Callable[[argparse.Namespace, Settings], int]
_GROUPS = (demo, serve, enhance, keys, users, operations, dead, reprocess, risc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="darkroom", description="Act for your app's users on Google Photos.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    sys.exit(_run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        settings = get_settings()
        logging.getLogger().setLevel(settings.log_level.upper())
        if args.command != "demo":  # the demo narrates to a person
            logs.configure(settings)
        command: Command = args.run
        return command(args, settings)
    except (ValueError, OSError, DarkroomError) as exc:
        print(f"darkroom: {exc}".splitlines()[0][:300], file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, as the contract says; the traceback is for the logs at debug level
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"darkroom: {exc.__class__.__name__}: {first}"[:300], file=sys.stderr)
        return 1
