"""Standard Webhooks to the app's backend (google-apis.md §12): POST the event's JSON with `webhook-id` (the
row's id, the same on every retry), `webhook-timestamp` (now, at each attempt: receivers refuse stale ones)
and `webhook-signature`, one `v1,...` per secret so the app can rotate, signed by the standardwebhooks package.
A 2xx ends a delivery; anything else is tried again."""

from __future__ import annotations

import datetime

import requests
import standardwebhooks

from workers.context import Context
from workers.errors import Unavailable
from workers.store.models import Notification


def send(ctx: Context, row: Notification) -> None:
    url = ctx.settings.webhook_url
    assert url is not None
    try:
        answer = requests.post(
            url, data=row.payload.encode(), headers=headers(ctx, row), timeout=ctx.settings.webhook_timeout_s
        )
    except requests.RequestException as exc:
        raise Unavailable(f"webhook: {type(exc).__name__}") from None
    if not 200 <= answer.status_code < 300:
        raise Unavailable(f"webhook: HTTP {answer.status_code}")


def headers(ctx: Context, row: Notification) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    signatures = [
        standardwebhooks.Webhook(secret).sign(row.id, now, row.payload) for secret in ctx.settings.webhook_secret_list()
    ]
    return {
        "content-type": "application/json",
        "webhook-id": row.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
