"""`python -m emulator serve --port N`: a local Google for manual runs and load runs."""

from __future__ import annotations

import argparse

from emulator.server import serve_forever
from emulator.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Google


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve Google's OAuth, Picker, Library and content endpoints")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8900)
    serve.add_argument("--client-id", default=DEMO_CLIENT_ID)
    serve.add_argument("--client-secret", default=DEMO_CLIENT_SECRET)
    args = parser.parse_args()
    serve_forever(Google({args.client_id: args.client_secret}), args.host, args.port)


if __name__ == "__main__":
    main()
