"""Standard Webhooks to the app's backend (docs/google.md#standard-webhooks): POST the event's JSON with
`webhook-id` (the row's id, the same on every retry), `webhook-timestamp` (now, at each attempt: receivers refuse
stale ones) and `webhook-signature`, one `v1,...` per secret so the app can rotate, signed by the standardwebhooks
package.
A 2xx ends a delivery; anything else, a redirect too, is tried again.

Each attempt has one deadline for the whole exchange, not for each read: a receiver that answers a byte at a time
is cut off when it passes (its socket shut from a timer), and nothing of the answer is read past its status line
and headers, so a huge answer costs nothing. Redirects are not followed: the signed event goes only to the
configured URL. The only HTTP in workers outside workers.google (tests/test_architecture.py)."""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import os
import socket
import threading

import certifi
import standardwebhooks
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from workers.context import Context
from workers.errors import Unavailable
from workers.intake import queries
from workers.store.models import Notification


def send(ctx: Context, row: Notification) -> None:
    url = ctx.settings.webhook_target()
    assert url is not None
    body = body_of(row)
    status = _post(url, body.encode(), headers(ctx, row, body), ctx.settings.webhook_timeout_s)
    if 300 <= status < 400:
        raise Unavailable(f"webhook: HTTP {status}: redirects are not followed; set DARKROOM_WEBHOOK_URL to the target")
    if not 200 <= status < 300:
        raise Unavailable(f"webhook: HTTP {status}")


def body_of(row: Notification) -> str:
    """The event as the app reads it: a submission's facts (what the outbox row keeps) as its status document,
    the same on every attempt. A row an earlier release wrote holds the document already."""
    event = json.loads(row.payload)
    facts = event["data"]
    if "items" not in facts:
        return row.payload
    event["data"] = {**queries.document(facts), "sub": facts["sub"]}
    return json.dumps(event, separators=(",", ":"))


def headers(ctx: Context, row: Notification, body: str) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    signatures = [
        standardwebhooks.Webhook(secret).sign(row.id, now, body) for secret in ctx.settings.webhook_secret_list()
    ]
    return {
        "content-type": "application/json",
        "webhook-id": row.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


_CA_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' names for a CA bundle of one's own


def _post(url: str, body: bytes, headers: dict[str, str], deadline_s: float) -> int:
    """The answer's status; Unavailable when there is none within deadline_s, or the connection fails."""
    connection = _connection(url, deadline_s)
    timer = threading.Timer(deadline_s, _cut, (connection,))
    timer.daemon = True
    timer.start()
    try:
        path = urllib3.util.parse_url(url).request_uri
        connection.request("POST", path, body=body, headers=headers, preload_content=False)
        answer = connection.getresponse()
        answer.close()  # unread: its socket goes with the connection, now (a reference left would leak it)
        return int(answer.status)
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        if not timer.is_alive():
            raise Unavailable(f"webhook: no answer within {deadline_s:g} s") from None
        raise Unavailable(f"webhook: {type(exc).__name__}") from None
    finally:
        timer.cancel()
        connection.close()


def _connection(url: str, deadline_s: float) -> HTTPConnection:
    parsed = urllib3.util.parse_url(url)
    if parsed.scheme == "https":
        ca_certs = next(filter(None, map(os.environ.get, _CA_BUNDLES)), None) or certifi.where()
        return HTTPSConnection(parsed.host or "", parsed.port or 443, timeout=deadline_s, ca_certs=ca_certs)
    return HTTPConnection(parsed.host or "", parsed.port or 80, timeout=deadline_s)


def _cut(connection: HTTPConnection) -> None:
    """The deadline passed: end whatever read or write the delivery's thread is blocked in."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)
