"""`darkroom risc register | verify | status | enable | disable`: darkroom's receiver for Google's
Cross-Account Protection events, registered with Google's RISC management API by a service account
(DARKROOM_RISC_SERVICE_ACCOUNT_FILE, with the RISC Configuration Admin role)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from typing import Any

from settings import Settings
from workers.errors import UsageError

VERIFICATION = "https://schemas.openid.net/secevent/risc/event-type/verification"


def register_receiver(args: argparse.Namespace, settings: Settings) -> int:
    from workers.google import risc

    if not args.url.startswith("https://") and not args.insecure:
        raise UsageError("Google pushes only to https:// receivers on an authorized domain (--insecure for a test)")
    if not args.url.rstrip("/").endswith("/v1/risc"):
        print(f"warning: {args.url} is not darkroom's receiver path /v1/risc", file=sys.stderr)
    config = risc.register(settings, args.url)
    print(f"registered {args.url} for {len(config['events_requested'])} event types; stream {risc.status(settings)}")
    print("next: darkroom risc verify")
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from workers.google import risc

    config, state = risc.stream(settings), risc.status(settings)
    if args.json:
        print(json.dumps({"stream": config, "status": state}, indent=2))
        return 0
    if config is None:
        print("no receiver is registered: darkroom risc register --url https://<host>/v1/risc")
        return 1
    print(f"receiver {config['delivery']['url']}  stream {state}")
    print("events   " + " ".join(sorted(_short(e) for e in config.get("events_requested", []))))
    return 0


def enable(args: argparse.Namespace, settings: Settings) -> int:
    from workers.google import risc

    print(f"stream {risc.set_status(settings, enabled=args.enable)}")
    if not args.enable:
        print("while the stream is disabled Google sends no security events, and keeps none for later")
    return 0


def verify(args: argparse.Namespace, settings: Settings) -> int:
    """Ask Google for a verification event and wait until darkroom's receiver has recorded its state."""
    from workers.context import Context
    from workers.google import risc
    from workers.store import security_events

    ctx, state = Context(settings), f"darkroom-verify-{secrets.token_hex(8)}"
    risc.verify(settings, state)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        received = security_events.verified(ctx.db, state)
        if received is not None:
            print(file=sys.stderr)
            print(f"verified: the receiver recorded verification {state} at {received.isoformat()}Z", flush=True)
            return 0
        waited = args.timeout - (deadline - time.monotonic())
        print(f"\rwaiting for the verification event: {waited:.0f} s", end="", file=sys.stderr, flush=True)
        time.sleep(0.5)
    print(file=sys.stderr)
    print(
        f"darkroom: no verification reached the receiver in {args.timeout:g} s: {_why(risc, settings)}", file=sys.stderr
    )
    return 1


def _why(risc: Any, settings: Settings) -> str:
    config = risc.stream(settings)
    if config is None:
        return "no receiver is registered (darkroom risc register --url https://<host>/v1/risc)"
    if risc.status(settings) != "enabled":
        return "the stream is disabled: Google sends nothing (darkroom risc enable)"
    if VERIFICATION not in config.get("events_requested", []):
        return "the stream does not ask for verification events (darkroom risc register again)"
    url = config["delivery"]["url"]
    return (
        f"Google sent it to {url}: is that this deployment's /v1/risc, reachable from the Internet, and does "
        "DARKROOM_RISC_AUDIENCES (or the web client id) name this project's clients? The web process's log says "
        "why it refused an event"
    )


def _short(event_type: str) -> str:
    return event_type.rsplit("/", 1)[-1]


def register(sub: Any) -> None:
    risc = sub.add_parser("risc", help="register darkroom's Cross-Account Protection receiver with Google")
    which = risc.add_subparsers(dest="risc_command", required=True)
    command = which.add_parser("register", help="point the project's RISC stream at URL, every event type")
    command.add_argument("--url", required=True, help="darkroom's receiver: https://<host>/v1/risc")
    command.add_argument("--insecure", action="store_true", help=argparse.SUPPRESS)  # an emulator over http
    command.set_defaults(run=register_receiver)
    command = which.add_parser("verify", help="have Google send a verification; wait until darkroom recorded it")
    command.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    command.set_defaults(run=verify)
    command = which.add_parser("status", help="the receiver Google holds, its event types and the stream's status")
    command.add_argument("--json", action="store_true")
    command.set_defaults(run=status)
    which.add_parser("enable", help="let Google send events").set_defaults(run=enable, enable=True)
    which.add_parser("disable", help="stop Google sending events (it keeps none)").set_defaults(
        run=enable, enable=False
    )
