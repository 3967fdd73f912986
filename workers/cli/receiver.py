"""The app's backend as `darkroom demo` (and the tests) play it: a loopback HTTP server that verifies each
webhook with the standardwebhooks package, as README's ten-line receiver does, and records what it was sent."""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a demo secret: base64 of 24 bytes, as the spec's examples


class Receiver:
    def __init__(self, secret: str = SECRET) -> None:
        self.verifier = standardwebhooks.Webhook(secret)
        self.seen: list[dict[str, Any]] = []  # every delivery: its id, whether it verified, and the event
        self.answers: list[int] = []  # statuses to answer next, one per delivery; then 204
        self.down = False  # answer 503 to everything
        self.delay_s = 0.0  # how long each answer takes (a slow backend)
        self.lock = threading.Lock()
        self.url = ""

    def events(self) -> list[dict[str, Any]]:
        """Each event once, by webhook-id, as a receiver that dedupes sees them: only verified ones."""
        with self.lock:
            unique = {d["id"]: d for d in self.seen if d["verified"]}
        return [d["event"] for d in unique.values()]

    def types(self) -> list[str]:
        return sorted(e["type"] for e in self.events())

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            event = self.verifier.verify(body, headers)
            verified = True
        except standardwebhooks.WebhookVerificationError:
            event, verified = json.loads(body or b"null"), False
        with self.lock:
            delivery = {"id": headers.get("webhook-id"), "verified": verified, "event": event, "raw": body}
            self.seen.append({**delivery, "at": time.monotonic()})
            if self.down:
                return 503
            return self.answers.pop(0) if self.answers else 204


@contextlib.contextmanager
def receiving(secret: str = SECRET) -> Iterator[Receiver]:
    receiver = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            time.sleep(receiver.delay_s)  # seen, and its answer held back: a delivery in flight
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as base:
        receiver.url = f"{base}/hooks/darkroom"
        yield receiver


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[str]:
    """Serve on a thread of its own until the block ends; the server's loopback URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
