"""FCM pushes to the device that posted the code: one `messages:send` per outcome (done or failed), with a
short notification and `data` {submission_id, status}. An unregistered token is forgotten at once."""

from __future__ import annotations

import json

from workers.context import Context
from workers.errors import MediaGone
from workers.google import fcm
from workers.notify.delivery import Dropped
from workers.store import submissions
from workers.store.models import Notification

_TEXT = {
    "done": ("Your photos are ready", "They are in your Google Photos album."),
    "failed": ("Your photos could not be finished", "Open the app to see why."),
}


def send(ctx: Context, row: Notification) -> None:
    data = json.loads(row.payload)["data"]
    token = submissions.push_token_of(ctx.db, ctx.vault, str(row.submission_id))
    if token is None:
        raise Dropped("the device token is gone")
    title, body = _TEXT.get(str(data["status"]), ("darkroom", str(data["status"])))
    try:
        fcm.send(
            ctx.settings, token, {"submission_id": str(row.submission_id), "status": str(data["status"])}, title, body
        )
    except MediaGone:  # UNREGISTERED: the app was uninstalled or the token expired
        submissions.forget_push_token(ctx.db, str(row.submission_id))
        raise Dropped("FCM says the device token is unregistered: forgotten") from None
