"""`darkroom reprocess`: select, then enqueue through the broker at a bounded rate, with a progress bar.

It never processes in the CLI. Run it twice and the second run finds nothing left to do: the ledger
remembers every item at every recipe version.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any

from settings import Settings
from workers.errors import ConfigurationError, Unavailable, UsageError
from workers.store.states import ITEM_FINAL, SourceKind


def _bar(done: int, total: int, label: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}", end="", file=sys.stderr, flush=True)


def _since(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError as exc:
        raise UsageError(f"--since takes a date like 2026-11-01, not {text!r}") from exc


def reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations import reprocess
    from workers.queue import broker
    from workers.store.selection import Selection

    if not settings.redis_url and not args.dry_run:
        raise ConfigurationError("reprocess enqueues for the workers: set DARKROOM_REDIS_URL")
    selection = Selection(args.user, SourceKind(args.source), _since(args.since), args.failed, args.stale_recipe)
    ctx = Context(settings)
    jobs = reprocess.plan(ctx, selection)
    kinds = {"scan": "inbox scans", "item": "failed items"}
    print(f"{len(jobs)} {kinds['item' if args.failed else 'scan']} to send", file=sys.stderr)
    if args.dry_run or not jobs:
        return 0
    broker.setup(settings)
    opened: list[str] = []
    for n, job in enumerate(jobs, 1):
        if submission_id := reprocess.send(ctx, job, selection.since):
            opened.append(submission_id)
        _bar(n, len(jobs), "sent")
        time.sleep(1.0 / args.rate)  # Google's quotas are per project per day: spread the work out
    print(file=sys.stderr)
    if args.wait:
        _follow(ctx, opened, [j.item_id for j in jobs if j.item_id], args.wait_timeout)
    return 0


def _follow(ctx: Any, submission_ids: list[str], item_ids: list[str], timeout_s: float) -> None:
    """Show this run's items (those of the scans it opened, and the failed ones it started over) until none is
    on its way any more. Read by id, a page at a time: what it costs follows the run, not the users' history."""
    from workers.store import reports

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts, open_submissions = reports.run_progress(ctx.db, submission_ids, item_ids)
        total, pending = sum(counts.values()), sum(v for k, v in counts.items() if k not in ITEM_FINAL)
        _bar(total - pending, total, f"items ({counts.get('failed', 0)} failed)")
        if not pending and not open_submissions and (total or not item_ids):
            print(file=sys.stderr)
            return
        time.sleep(0.5)
    print(file=sys.stderr)
    raise Unavailable(f"still running after {timeout_s:.0f} s; `darkroom status` shows where it is")


def register(sub: Any) -> None:
    cmd = sub.add_parser("reprocess", help="enqueue users' photos again, throttled, with progress; resumable")
    who = cmd.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="SUB")
    who.add_argument("--all", action="store_true")
    cmd.add_argument("--source", choices=tuple(SourceKind), default=SourceKind.INBOX)
    cmd.add_argument(
        "--since", metavar="DATE", help="only photos darkroom first saw on or after this date (YYYY-MM-DD), not taken"
    )
    cmd.add_argument("--failed", action="store_true", help="retry failed items")
    cmd.add_argument("--stale-recipe", action="store_true", help="photos done with an older recipe")
    cmd.add_argument("--dry-run", action="store_true")
    cmd.add_argument("--rate", type=float, default=10.0, help="messages sent per second (default 10)")
    cmd.add_argument("--wait", action="store_true", help="stay and show the items' progress until they finish")
    cmd.add_argument("--wait-timeout", type=float, default=3600.0)
    cmd.set_defaults(run=reprocess)
