"""The Picker source: open a session for the user to pick in, poll it at Google's interval, fan out the pick."""

from __future__ import annotations

import datetime
import math
from typing import Any

from workers.context import Context
from workers.errors import MediaGone, PickerExpired
from workers.grants import tokens
from workers.photos import fanout
from workers.queue import messages
from workers.store import submissions
from workers.store.states import SourceKind, SubmissionStatus

MAX_POLL_INTERVAL_S = 60.0  # Google asks for seconds (5 s in practice)


def open_picker(ctx: Context, submission_id: str) -> None:
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != SubmissionStatus.EXCHANGING or row.sub is None:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        session = photos.create_picker_session()
    submissions.move(
        ctx.db,
        submission_id,
        (SubmissionStatus.EXCHANGING,),
        SubmissionStatus.AWAITING_PICK,
        picker_session_id=session["id"],
        picker_uri=session["pickerUri"],
        picker_expires_at=parse_time(session.get("expireTime")),
    )
    messages.poll_picker(submission_id, _interval_ms(session))


def poll_picker(ctx: Context, submission_id: str) -> None:
    """One look at the session: not picked yet, poll again later; picked, ledger rows and messages."""
    row = submissions.get(ctx.db, submission_id)
    if row is None or row.status != SubmissionStatus.AWAITING_PICK or row.sub is None or not row.picker_session_id:
        return
    with tokens.photos_for(ctx, row.sub) as photos:
        try:
            session = photos.get_picker_session(row.picker_session_id)
        except MediaGone:
            raise PickerExpired("the picker session expired before the user picked") from None
        if not session.get("mediaItemsSet"):
            _poll_again(ctx, submission_id, session)
            return
        found = [fanout.picked(p) for p in photos.picked_items(row.picker_session_id)]
        fanout.fan_out(ctx, photos, submission_id, row.sub, SourceKind.PICKER, found)


def _poll_again(ctx: Context, submission_id: str, session: dict[str, Any]) -> None:
    """Poll again at Google's interval, until `pollingConfig.timeoutIn` or `expireTime`, whichever comes first
    (docs/google.md#picker: a timeoutIn of 0 means stop now); then the user did not pick in time."""
    left_s = _left_s(session)
    if left_s <= 0:
        raise PickerExpired("the user did not pick before the picker session's polling time ran out")
    delay_ms = min(_interval_ms(session), max(1, int(left_s * 1000)))
    # One chain of polls per session: a second message (sent again after an outage, or redelivered while its
    # first copy ran) finds the claim of the chain that polled just before, and ends there.
    if not ctx.locks.claim(f"poll:{submission_id}", delay_ms / 1000 * 0.8):
        return
    submissions.touch(ctx.db, submission_id)  # alive: the sweeper leaves a polled submission alone
    messages.poll_picker(submission_id, delay_ms)


def _left_s(session: dict[str, Any]) -> float:
    """Seconds until polling should stop: the sooner of timeoutIn and expireTime (infinite if neither)."""
    config = session.get("pollingConfig")
    timeout = config.get("timeoutIn") if isinstance(config, dict) else None
    left = _seconds(timeout) if timeout is not None else float("inf")
    expires = parse_time(session.get("expireTime"))
    if expires is not None:
        left = min(left, (expires - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)).total_seconds())
    return left


def _interval_ms(session: dict[str, Any]) -> int:
    """Google's pollInterval, between 0.5 s and a minute: a wait Google names has a ceiling too."""
    config = session.get("pollingConfig") or {}
    raw = config.get("pollInterval", "5s") if isinstance(config, dict) else "5s"
    return int(min(MAX_POLL_INTERVAL_S, max(0.5, _seconds(raw))) * 1000)


def _seconds(duration: object) -> float:
    """A protobuf Duration in JSON ("5s", "0.5s"); an unreadable one (or not finite) counts as 5 s."""
    try:
        seconds = float(str(duration).rstrip("s") or 5)
    except ValueError:
        return 5.0
    return seconds if math.isfinite(seconds) else 5.0


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 time from Google as naive UTC, as darkroom's columns keep times."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None
