"""`darkroom status`, `darkroom sweep` and `darkroom prune`: what the pipeline is doing, and a sweep or a
retention pass by hand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from settings import Settings
from workers.errors import ConfigurationError


def status(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations import report

    found = report.report(Context(settings))
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
        counted = ", ".join(f"{k} {v}" for k, v in sorted(found[kind].items())) or "none"
        print(f"{kind:12s} {counted}" + ("" if kind == "grants" else "  (finished ones: the last 24 h)"))
    for channel, states in sorted(found["notifications"].items()):
        print(f"{channel:12s} " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    _print_quota(found["quota"])
    due = found["retention"]["due"]
    if any(due.values()):
        print(
            f"retention    past {found['retention']['days']:g} days, to let go: "
            + ", ".join(
                f"{n}{'+' if n >= found['retention']['counted_up_to'] else ''} {k}" for k, n in due.items() if n
            )
        )
    grant_health = found["grant_health"]
    print(
        "health       " + ", ".join(f"{k} {v}" for k, v in grant_health["users"].items()) + "  (users, the last 24 h)"
    )
    for sub, sick in grant_health["failing"].items():
        print(f"failing grant {sub}: {sick['last_error']} at {sick['last_error_at']}")
    if grant_health["expiring_within_7_days"]:
        print(
            f"warning: {grant_health['expiring_within_7_days']} grants end within 7 days (time-limited access the "
            "users chose; an OAuth app still in Testing ends every grant after 7 days)"
        )
    for failure in found["recent_failures"]:
        print(f"failed {failure['kind']} {failure['id']} at {failure['at']}: {failure['error']}: {failure['detail']}")
    return 0


def quota(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations import report

    found = report.quota(Context(settings))
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    _print_quota(found)
    return 0


def _print_quota(found: dict[str, Any]) -> None:
    for use in found["apis"]:
        budget = f"of {use['budget']}" if use["budget"] is not None else "(no daily budget)"
        line = f"quota {use['api']:8s} {use['day']}  used {use['used']:6d} {budget}"
        if use["paused_until"]:
            line += f"  PAUSED until {use['paused_until']} (a probe every {found['probe_interval_s']:g} s)"
        if use["probes"]:
            line += f"  {use['probes']} probes today"
        if use["slowed_until"]:
            line += f"  slowed until {use['slowed_until']}"
        print(line)


def sweep(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations import sweeper
    from workers.queue import broker

    if not settings.redis_url:
        raise ConfigurationError(
            "sweep sends work to the broker: set DARKROOM_REDIS_URL (the embedded server sweeps itself)"
        )
    broker.setup(settings)
    done = sweeper.sweep(Context(settings))
    print("nothing was stuck" if not done else "sent again: " + ", ".join(f"{n} {kind}" for kind, n in done.items()))
    return 0


def prune(args: argparse.Namespace, settings: Settings) -> int:
    from workers.context import Context
    from workers.operations import retention

    ctx = Context(settings)
    if args.dry_run:
        due = retention.due(ctx, cap=10_000_000)
        print(f"older than {settings.retention_days:g} days: " + ", ".join(f"{n} {kind}" for kind, n in due.items()))
        return 0

    def progress(total: Any) -> None:
        if any(total.values()):
            shown = ", ".join(f"{n} {kind}" for kind, n in total.items() if n)
            print(f"\rlet go so far: {shown}", end="", file=sys.stderr, flush=True)

    done = retention.prune(ctx, progress=progress)
    if done:
        print(file=sys.stderr)
    print("nothing was due" if not done else "let go: " + ", ".join(f"{n} {kind}" for kind, n in done.items()))
    return 0


def register(sub: Any) -> None:
    command = sub.add_parser("status", help="queues, grants, items and recent failures")
    command.add_argument("--json", action="store_true")
    command.set_defaults(run=status)
    sub.add_parser("sweep", help="re-enqueue stuck work once").set_defaults(run=sweep)
    command = sub.add_parser("prune", help="let go what is past DARKROOM_RETENTION_DAYS now, with progress")
    command.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    command.set_defaults(run=prune)
    command = sub.add_parser("quota", help="today's use of Google's quota per API, pauses and their resume time")
    command.add_argument("--json", action="store_true")
    command.set_defaults(run=quota)
